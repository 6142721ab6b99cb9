import Foundation

/// dbmate's format: one `<version>_<description>.sql` file per migration, applied in the order of the
/// file names as text (as dbmate sorts them), with `-- migrate:up` and `-- migrate:down` sections (`-- migrate:up` required, as dbmate requires it), and `transaction:false` on a marker
/// to run that section outside a transaction. dbmate's history is `schema_migrations(version)`, one row
/// per applied version as written in the file name (leading zeros kept).
enum DbmateFormat {
    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        let names = folder.sqlFiles
        // Each file read and parsed on its own, on two threads for a folder of many (`eachFile`); the
        // checks across files, and the first error in the files' order, are the loop's.
        let parsed = folder.eachFile(names) { name throws(MigrationsInvalid) -> Migration? in
            guard let (digits, _) = parseName(name) else { return nil }
            return try parse(
                folder.text(of: name), id: String(name.dropLast(4)), toolKey: digits, file: name, dialect: dialect)
        }
        var migrations: [Migration] = []
        var byVersion: [String: String] = [:]
        for (name, result) in zip(names, parsed) {
            guard let (_, version) = parseName(name) else {
                throw MigrationsInvalid(
                    file: name, line: nil,
                    reason: "the name must start with a version (digits), as in 20261129093000_create_widgets.sql"
                )
            }
            if let other = byVersion[version] {
                throw MigrationsInvalid(file: name, line: nil, reason: "version \(version) is also used by \(other)")
            }
            byVersion[version] = name
            // Parsed above for every file with a version.
            if let migration = try result.get() { migrations.append(migration) }
        }
        return migrations
    }

    /// The version as written and without leading zeros: the leading digits of any `.sql` name that
    /// starts with one, as dbmate's `^(\d+).*\.sql$` reads it (`<version>_<description>.sql` by
    /// convention, but `001.sql` and `20260101-x.sql` are dbmate's too).
    static func parseName(_ name: String) -> (digits: String, version: String)? {
        let digits = Migration.leadingDigits(of: name)
        guard let version = Migration.version(ofDigits: digits), name.hasSuffix(".sql") else { return nil }
        return (String(digits), version)
    }

    /// True when the text has a `-- migrate:up` or `-- migrate:down` line.
    static func hasMarker(_ text: String) -> Bool {
        // Cheap first: every marker spells this.
        guard text.containsBytes("migrate:") else { return false }
        return text.lines(omittingEmpty: true).contains { line in
            // A marker with a bad option is a marker too.
            do { return try marker(line, file: "", line: 0) != nil } catch { return true }
        }
    }

    /// One dbmate file: its sections, split into statements for `dialect`.
    /// `body` is the file's text as `Listing.text(of:)` reads it; `toolKey` is dbmate's version.
    static func parse(_ body: String, id: String, toolKey: String, file: String, dialect: SQLEngine)
        throws(MigrationsInvalid) -> Migration
    {
        let lines = body.lines()
        var up: (line: Int, transactional: Bool)?
        var down: (line: Int, transactional: Bool)?
        for (index, raw) in lines.enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            guard let marker = try marker(line, file: file, line: index + 1) else { continue }
            if marker.isUp {
                guard up == nil else {
                    throw MigrationsInvalid(file: file, line: index + 1, reason: "a second -- migrate:up")
                }
                guard down == nil else {
                    throw MigrationsInvalid(file: file, line: index + 1, reason: "-- migrate:up after -- migrate:down")
                }
                up = (index + 1, marker.transactional)
            } else {
                guard down == nil else {
                    throw MigrationsInvalid(file: file, line: index + 1, reason: "a second -- migrate:down")
                }
                guard up != nil else {
                    throw MigrationsInvalid(file: file, line: index + 1, reason: "-- migrate:down before -- migrate:up")
                }
                down = (index + 1, marker.transactional)
            }
        }
        func section(from first: Int, to end: Int) -> String {
            // The lines joined again by "\n": the text from the first's start to the last's end.
            let (first, end) = (min(first, lines.count), min(end, lines.count))
            return first < end ? String(body[lines[first].startIndex..<lines[end - 1].endIndex]) : ""
        }
        func statements(_ text: String, offset: Int) throws(MigrationsInvalid) -> [String] {
            try MigrationFolder.statements(text, file: file, lineOffset: offset, dialect: dialect)
        }
        guard let up else {
            // dbmate refuses such a file too: text without sections may be any tool's, down and all.
            throw MigrationsInvalid(
                file: file, line: nil, reason: "no -- migrate:up line; dbmate runs only the section after it")
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
            checksum: Migration.checksum(ofSection: upText),
            toolKey: toolKey,
            // dbmate applies its files in the order of their names as text (pkg/dbmate FindMigrations
            // sorts by file name), not of their versions as numbers: `10_b.sql` before `9_a.sql`.
            orderKey: Migration.textOrderKey(file)
        )
    }

    /// A `-- migrate:up` / `-- migrate:down` line with its options, or nil for any other line.
    static func marker(_ line: Substring, file: String, line number: Int) throws(MigrationsInvalid) -> (
        isUp: Bool, transactional: Bool
    )? {
        // Bytes first: most lines are not comments, and `hasPrefix` compares Characters.
        let bytes = line.utf8
        guard bytes.starts(with: "--".utf8) else { return nil }
        // An ASCII line (nearly every one): a byte is a Character there, so the same reading by byte.
        guard bytes.contains(where: { $0 >= 0x80 }) else { return try asciiMarker(bytes, file: file, line: number) }
        return try markerByCharacter(line, file: file, line: number)
    }

    private static func asciiMarker(_ line: Substring.UTF8View, file: String, line number: Int)
        throws(MigrationsInvalid) -> (isUp: Bool, transactional: Bool)?
    {
        func blank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let rest = line.dropFirst(2).drop(while: blank)
        let isUp: Bool
        if rest.starts(with: "migrate:up".utf8) {
            isUp = true
        } else if rest.starts(with: "migrate:down".utf8) {
            isUp = false
        } else {
            return nil
        }
        let options = rest.dropFirst(isUp ? 10 : 12)
        if let first = options.first, !blank(first) { return nil }  // `-- migrate:upper` is a comment
        var transactional = true
        for option in options.split(whereSeparator: blank) {
            if option.elementsEqual("transaction:false".utf8) {
                transactional = false
            } else if option.elementsEqual("transaction:true".utf8) {
                transactional = true
            } else {
                let written = String(decoding: option, as: UTF8.self)
                throw MigrationsInvalid(
                    file: file, line: number, reason: "unknown option \"\(written)\" (known: transaction:false)")
            }
        }
        return (isUp, transactional)
    }

    /// `marker`, read by Character: for a line with bytes beyond ASCII, where a combining mark can
    /// make a `-` or a blank part of another Character.
    static func markerByCharacter(_ line: Substring, file: String, line number: Int) throws(MigrationsInvalid) -> (
        isUp: Bool, transactional: Bool
    )? {
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
                throw MigrationsInvalid(
                    file: file, line: number, reason: "unknown option \"\(option)\" (known: transaction:false)")
            }
        }
        return (isUp, transactional)
    }
}

extension MigrationFormat {
    static let dbmate = MigrationFormat(declaring: "dbmate")
}

extension DbmateFormat: MigrationTool {
    static var format: MigrationFormat { .dbmate }
    static let markers = ["migrate:"]
    static var history: any ToolHistory { DbmateHistory() }

    /// A `-- migrate:up` or `-- migrate:down` line in any `.sql` file.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.anySQLText(hasMarker)
    }

    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)_\(slug).sql", "-- migrate:up\n\n\n-- migrate:down\n\n")]
    }
}
