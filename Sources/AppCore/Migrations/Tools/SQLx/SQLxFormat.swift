import Crypto
import Foundation

/// sqlx's format (launchbadge/sqlx `sqlx-core/src/migrate/source.rs`): every file of the folder named
/// `<version>_<description>.sql` is a migration, or `<version>_<description>.up.sql` with an optional
/// `.down.sql` beside it; the version is the text before the first `_` as a 64-bit number, and
/// migrations apply in its order. A file whose text starts with `-- no-transaction` runs outside a
/// transaction. Files of other names are ignored, as sqlx ignores them. sqlx keeps the SHA-384 of each
/// file's text as written (`_sqlx_migrations.checksum`). sqlx's folders have no marker: their layout
/// is shared (`.up.sql` pairs with golang-migrate), so the database's history table picks the tool.
enum SQLxFormat {
    /// A file's name as sqlx reads it: nil for a name sqlx ignores.
    struct Name {
        var version: Int64?
        var stem: String
        var kind: Kind
        enum Kind: String {
            case simple = ".sql"
            case up = ".up.sql"
            case down = ".down.sql"
        }
    }

    static func parseName(_ name: String) -> Name? {
        guard let separator = name.firstIndex(of: "_"), name.hasSuffix(".sql") else { return nil }
        let rest = name[name.index(after: separator)...]
        let kind: Name.Kind = rest.hasSuffix(".up.sql") ? .up : rest.hasSuffix(".down.sql") ? .down : .simple
        return Name(
            version: Int64(name[..<separator]), stem: String(name.dropLast(kind.rawValue.count)), kind: kind)
    }

    /// sqlx's description: the name after the version, without its suffix, `_` as a space.
    static func description(ofID id: String) -> String {
        guard let separator = id.firstIndex(of: "_") else { return id }
        return id[id.index(after: separator)...].replacingOccurrences(of: "_", with: " ")
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        var ups: [Int64: (file: String, name: Name)] = [:]
        var downs: [Int64: (file: String, name: Name)] = [:]
        for file in folder.sqlFiles {
            guard let name = parseName(file) else { continue }
            guard let version = name.version else {
                throw MigrationsInvalid(
                    file: file, line: nil,
                    reason:
                        "the text before the first _ is not a version (a whole number), as in 20260101120000_create_widgets.sql"
                )
            }
            if let other = name.kind == .down ? downs[version] : ups[version] {
                throw MigrationsInvalid(
                    file: file, line: nil, reason: "version \(version) is also used by \(other.file)")
            }
            if name.kind == .down { downs[version] = (file, name) } else { ups[version] = (file, name) }
        }
        if let orphan = downs.first(where: { ups[$0.key] == nil }) {
            throw MigrationsInvalid(
                file: orphan.value.file, line: nil, reason: "a down file without an up file of version \(orphan.key)")
        }
        if let simple = ups.values.first(where: { $0.name.kind == .simple }), let down = downs[simple.name.version!] {
            throw MigrationsInvalid(
                file: down.file, line: nil,
                reason:
                    "a down file for \(simple.file), which is not an .up.sql file (sqlx reverts only .up.sql migrations)"
            )
        }
        var migrations: [Migration] = []
        for (version, up) in ups {
            let raw = try folder.raw(of: up.file)
            let text = try folder.text(of: up.file)
            var down: (statements: [String], transactional: Bool)?
            if let file = downs[version]?.file {
                let downText = try folder.text(of: file)
                down = (
                    try MigrationFolder.statements(downText, file: file, lineOffset: 0, dialect: dialect),
                    !noTransaction(try folder.raw(of: file))
                )
            }
            migrations.append(
                Migration(
                    id: up.name.stem,
                    statements: try MigrationFolder.statements(text, file: up.file, lineOffset: 0, dialect: dialect),
                    down: down?.statements, transactional: !noTransaction(raw),
                    downTransactional: down?.transactional ?? true,
                    checksum: Migration.checksum(ofSection: text), toolKey: String(version),
                    toolChecksums: [checksum(raw)], orderKey: [String(version)]
                ))
        }
        return migrations
    }

    /// sqlx's test, on the file as written: its text starts with `-- no-transaction`.
    static func noTransaction(_ raw: Data) -> Bool {
        raw.starts(with: Data("-- no-transaction".utf8))
    }

    /// SHA-384 of the file as written, lowercase hex: `_sqlx_migrations.checksum`.
    static func checksum(_ raw: Data) -> String {
        SecretGenerator.hexString(SHA384.hash(data: raw))
    }
}

extension MigrationFormat {
    static let sqlx = MigrationFormat(declaring: "sqlx")
}

extension SQLxFormat: MigrationTool {
    static var format: MigrationFormat { .sqlx }
    static let markers: [String] = []
    static var history: any ToolHistory { SQLxHistory() }

    /// Never by itself: sqlx's files carry no marker.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool { false }

    /// `.up.sql`/`.down.sql` pairs, or `.sql` files that are all `<version>_<description>.sql`.
    static func sharesLayout(_ folder: MigrationFolder.Listing) -> Bool {
        let files = folder.sqlFiles
        return !files.isEmpty && files.allSatisfy { parseName($0)?.version != nil }
    }

    /// `sqlx migrate add -r <name>`: a reversible pair (sqlx writes a simple file without `-r`).
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [
            ("\(stamp)_\(slug).up.sql", "-- Add up migration script here\n"),
            ("\(stamp)_\(slug).down.sql", "-- Add down migration script here\n"),
        ]
    }
}
