import Foundation

/// Why a folder of migrations cannot be used. Nothing of such a folder is applied, not even its valid files.
public struct MigrationsInvalid: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file at fault (its name), or the folder's path when the folder itself cannot be read.
    public var file: String
    /// The 1-based line, when the fault is inside the file.
    public var line: Int?
    public var reason: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)"
    }
}

/// Reads a folder of migrations in dbmate's format: one `<version>_<description>.sql` file per
/// migration, with `-- migrate:up` and `-- migrate:down` sections (a file without markers is all up),
/// and `transaction:false` on a marker to run that section outside a transaction.
public enum MigrationFolder {
    public static func load(_ path: String, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw MigrationsInvalid(file: path, line: nil, reason: "the folder cannot be read (MIGRATIONS_DIR)")
        }
        var migrations: [Migration] = []
        var byVersion: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".sql") {
            let url = URL(fileURLWithPath: path).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let version = Migration.version(of: name), name.drop(while: { $0.isASCII && $0.isNumber }).first == "_" else {
                throw MigrationsInvalid(file: name, line: nil, reason: "the name must start with a version (digits) and _, as in 20261129093000_create_widgets.sql")
            }
            if let other = byVersion[version] {
                throw MigrationsInvalid(file: name, line: nil, reason: "version \(version) is also used by \(other)")
            }
            byVersion[version] = name
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw MigrationsInvalid(file: name, line: nil, reason: "the file cannot be read")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw MigrationsInvalid(file: name, line: nil, reason: "the file is not UTF-8 text")
            }
            migrations.append(try parse(text, id: String(name.dropLast(4)), file: name, dialect: dialect))
        }
        return migrations.sorted { Migration.versionLess($0.version, $1.version) }
    }

    /// One dbmate file: its sections, split into statements for `dialect`.
    static func parse(_ text: String, id: String, file: String, dialect: SQLEngine) throws(MigrationsInvalid) -> Migration {
        // CRLF is read as LF (a Windows checkout is the same migration); a leading BOM is dropped.
        var body = text.replacingOccurrences(of: "\r\n", with: "\n")
        if body.hasPrefix("\u{FEFF}") { body.removeFirst() }
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        var up: (line: Int, transactional: Bool)?
        var down: (line: Int, transactional: Bool)?
        for (index, raw) in lines.enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            guard let marker = try marker(line, file: file, line: index + 1) else { continue }
            if marker.isUp {
                guard up == nil else { throw MigrationsInvalid(file: file, line: index + 1, reason: "a second -- migrate:up") }
                guard down == nil else { throw MigrationsInvalid(file: file, line: index + 1, reason: "-- migrate:up after -- migrate:down") }
                up = (index + 1, marker.transactional)
            } else {
                guard down == nil else { throw MigrationsInvalid(file: file, line: index + 1, reason: "a second -- migrate:down") }
                guard up != nil else { throw MigrationsInvalid(file: file, line: index + 1, reason: "-- migrate:down before -- migrate:up") }
                down = (index + 1, marker.transactional)
            }
        }
        func section(from first: Int, to end: Int) -> String {
            lines[min(first, lines.count)..<min(end, lines.count)].joined(separator: "\n")
        }
        func statements(_ text: String, offset: Int) throws(MigrationsInvalid) -> [String] {
            do {
                return try SQLSplitter.split(text, dialect: dialect).map(\.text)
            } catch {
                throw MigrationsInvalid(file: file, line: error.line + offset, reason: "\(error.what) is not closed")
            }
        }
        guard let up else {
            return Migration(
                id: id, statements: try statements(body, offset: 0), down: nil, transactional: true,
                downTransactional: true, checksum: Migration.checksum(ofSection: body)
            )
        }
        let before = section(from: 0, to: up.line - 1)
        if try !statements(before, offset: 0).isEmpty {
            throw MigrationsInvalid(file: file, line: 1, reason: "SQL before -- migrate:up belongs to no section")
        }
        let upText = section(from: up.line, to: (down?.line ?? lines.count + 1) - 1)
        let downText = down.map { section(from: $0.line, to: lines.count) }
        return Migration(
            id: id,
            statements: try statements(upText, offset: up.line),
            down: try downText.map { text throws(MigrationsInvalid) in try statements(text, offset: down!.line) },
            transactional: up.transactional,
            downTransactional: down?.transactional ?? true,
            checksum: Migration.checksum(ofSection: upText)
        )
    }

    /// A `-- migrate:up` / `-- migrate:down` line with its options, or nil for any other line.
    static func marker(_ line: Substring, file: String, line number: Int) throws(MigrationsInvalid) -> (isUp: Bool, transactional: Bool)? {
        guard line.hasPrefix("--") else { return nil }
        let rest = line.dropFirst(2).drop(while: { $0 == " " || $0 == "\t" })
        let isUp: Bool
        if rest.hasPrefix("migrate:up") {
            isUp = true
        } else if rest.hasPrefix("migrate:down") {
            isUp = false
        } else {
            return nil
        }
        let options = rest.dropFirst(isUp ? 10 : 12)
        if let first = options.first, first != " ", first != "\t" { return nil }  // `-- migrate:upper` is a comment
        var transactional = true
        for option in options.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            switch option {
            case "transaction:false": transactional = false
            case "transaction:true": transactional = true
            default:
                throw MigrationsInvalid(file: file, line: number, reason: "unknown option \"\(option)\" (known: transaction:false)")
            }
        }
        return (isUp, transactional)
    }
}

/// The migrations a server or a command works with: the built-in set, or a folder's (possibly invalid).
public struct MigrationCatalog: Sendable {
    public var migrations: [Migration]
    /// Set when the folder cannot be used; then `migrations` is empty and nothing is applied.
    public var invalid: MigrationsInvalid?
    /// The folder, or nil for the built-in set.
    public var folder: String?

    public init(migrations: [Migration], invalid: MigrationsInvalid? = nil, folder: String? = nil) {
        self.migrations = migrations.sorted { Migration.versionLess($0.version, $1.version) }
        self.invalid = invalid
        self.folder = folder
    }

    /// The built-in set (the NextAuth.js adapter tables) when `folder` is nil, else the folder's migrations.
    public static func load(folder: String?, dialect: SQLEngine) -> MigrationCatalog {
        guard let folder else { return MigrationCatalog(migrations: Migration.all) }
        do {
            return MigrationCatalog(migrations: try MigrationFolder.load(folder, dialect: dialect), folder: folder)
        } catch {
            return MigrationCatalog(migrations: [], invalid: error, folder: folder)
        }
    }
}
