import Foundation

/// golang-migrate's format: `<version>_<title>.up.sql` and, optionally, `<version>_<title>.down.sql`,
/// the version an unsigned number. golang-migrate's history is `schema_migrations(version, dirty)`:
/// one row, the latest version applied, dirty while a migration runs.
///
/// golang-migrate runs a file as written, and its documentation has users write `BEGIN` and `COMMIT`
/// into a file that needs a transaction. So: a file that is exactly one `BEGIN … COMMIT` block runs
/// in this server's transaction (with its history rows) without its own `BEGIN`/`COMMIT`, never
/// wrapped twice; a file with transaction control elsewhere runs as written, outside a transaction
/// (like `-- migrate:up transaction:false`); any other file runs in one transaction.
enum GolangMigrateFormat {
    struct Name: Equatable {
        /// The version without leading zeros, as golang-migrate stores it.
        var version: String
        /// `<version>_<title>` as written.
        var id: String
        var isUp: Bool
    }

    /// The parts of `<version>_<title>.up.sql` / `.down.sql`, or nil for any other name.
    static func parseName(_ name: String) -> Name? {
        let digits = Migration.leadingDigits(of: name)
        guard !digits.isEmpty, name.dropFirst(digits.count).first == "_", let version = UInt64(digits) else {
            return nil
        }
        for (suffix, isUp) in [(".up.sql", true), (".down.sql", false)] where name.hasSuffix(suffix) {
            return Name(version: String(version), id: String(name.dropLast(suffix.count)), isUp: isUp)
        }
        return nil
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        var ups: [String: (name: String, file: Name)] = [:]
        var downs: [String: (name: String, file: Name)] = [:]
        for name in folder.sqlFiles {
            guard let parsed = parseName(name) else {
                throw MigrationsInvalid(
                    file: name, line: nil,
                    reason: "the name must be <version>_<title>.up.sql or .down.sql, as in 1_create_widgets.up.sql")
            }
            if let other = parsed.isUp ? ups[parsed.version] : downs[parsed.version] {
                throw MigrationsInvalid(
                    file: name, line: nil, reason: "version \(parsed.version) is also used by \(other.name)")
            }
            if parsed.isUp { ups[parsed.version] = (name, parsed) } else { downs[parsed.version] = (name, parsed) }
        }
        if let orphan = downs.first(where: { ups[$0.key] == nil }) {
            throw MigrationsInvalid(
                file: orphan.value.name, line: nil, reason: "a down file without an up file of version \(orphan.key)")
        }
        var migrations: [Migration] = []
        for (version, up) in ups {
            let upText = try folder.text(of: up.name)
            let (statements, transactional) = try section(upText, file: up.name, dialect: dialect)
            var down: (statements: [String], transactional: Bool)?
            if let downFile = downs[version] {
                down = try section(folder.text(of: downFile.name), file: downFile.name, dialect: dialect)
            }
            migrations.append(
                Migration(
                    id: up.file.id, statements: statements, down: down?.statements, transactional: transactional,
                    downTransactional: down?.transactional ?? true, checksum: Migration.checksum(ofSection: upText),
                    toolKey: version
                ))
        }
        return migrations
    }

    static func section(_ text: String, file: String, dialect: SQLEngine) throws(MigrationsInvalid) -> ([String], Bool)
    {
        TransactionControl.wrapping(try MigrationFolder.statements(text, file: file, lineOffset: 0, dialect: dialect))
    }
}

extension MigrationFormat {
    static let golangMigrate = MigrationFormat(declaring: "golang-migrate")
}

extension GolangMigrateFormat: MigrationTool {
    static var format: MigrationFormat { .golangMigrate }
    static let markers: [String] = []
    static var history: any ToolHistory { GolangMigrateHistory() }

    /// Never by itself: golang-migrate's files carry no marker, and sqlx lays out its folders the same.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool { false }

    /// `.sql` files that are all `<version>_<title>.up.sql` or `.down.sql`.
    static func sharesLayout(_ folder: MigrationFolder.Listing) -> Bool {
        let files = folder.sqlFiles
        return !files.isEmpty && files.allSatisfy { parseName($0) != nil }
    }

    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)_\(slug).up.sql", ""), ("\(stamp)_\(slug).down.sql", "")]
    }
}
