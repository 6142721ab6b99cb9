import Foundation

/// Supabase's format (supabase/cli `pkg/migration`): `supabase/migrations/<digits>_<name>.sql` beside
/// `supabase/config.toml`, applied in the order of the file names as text (the CLI reads the folder
/// sorted), each file split by the CLI's own splitter (`SupabaseSplitter`) and sent statement by
/// statement in one implicit transaction. Other names are skipped, as the CLI skips them, and so is a
/// first file `<timestamp>_init.sql` older than 2021-12-09 (the CLI's old initial schema). PostgreSQL
/// only. Supabase's history is `supabase_migrations.schema_migrations(version, statements, name)`.
enum SupabaseFormat {
    /// `<digits>_<name>.sql`: the version and the name, or nil for a file the CLI skips.
    static func parseName(_ file: String) -> (version: String, name: String)? {
        guard file.hasSuffix(".sql"), let separator = file.firstIndex(of: "_") else { return nil }
        let digits = file[..<separator]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return (String(digits), String(file[file.index(after: separator)...].dropLast(4)))
    }

    /// The CLI skips a first file `<14 digits>_init.sql` dated before 2021-12-09.
    static func isOldInitialSchema(_ file: String) -> Bool {
        guard let range = file.range(of: "_init.sql") else { return false }
        let digits = file[..<range.lowerBound].suffix(14)
        guard digits.count == 14, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let stamp = UInt64(digits)
        else { return false }
        return stamp < 20_211_209_000_000
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        guard dialect == .postgres else {
            throw MigrationsInvalid(
                file: folder.path, line: nil,
                reason: "Supabase's migrations run on PostgreSQL only (DATABASE_URL is SQLite)")
        }
        var migrations: [Migration] = []
        var byVersion: [String: String] = [:]
        for (index, file) in folder.names.enumerated() where !folder.directories.contains(file) {
            if index == 0 && isOldInitialSchema(file) { continue }
            guard let parsed = parseName(file) else { continue }
            if let other = byVersion[parsed.version] {
                throw MigrationsInvalid(
                    file: file, line: nil, reason: "version \(parsed.version) is also used by \(other)")
            }
            byVersion[parsed.version] = file
            let text = try folder.text(of: file)
            // The statements as the CLI records and sends them: from the file as written.
            let recorded = SupabaseSplitter.splitAndTrim(String(decoding: try folder.raw(of: file), as: UTF8.self))
            var sent: [String] = []
            for statement in recorded {
                // A piece that is only a comment (text after the last `;`) is an empty query: nothing to run.
                let pieces = try MigrationFolder.statements(statement, file: file, lineOffset: 0, dialect: dialect)
                if !pieces.isEmpty { sent.append(statement) }
            }
            let (statements, transactional) = TransactionControl.wrapping(sent)
            migrations.append(
                Migration(
                    id: String(file.dropLast(4)), statements: statements, down: nil, transactional: transactional,
                    downTransactional: true, checksum: Migration.checksum(ofSection: text), toolKey: parsed.version,
                    orderKey: Migration.textOrderKey(file), toolStatements: recorded
                ))
        }
        return migrations
    }
}

extension MigrationFormat {
    static let supabase = MigrationFormat(declaring: "supabase")
}

extension SupabaseFormat: MigrationTool {
    static var format: MigrationFormat { .supabase }
    static let markers: [String] = []
    static var history: any ToolHistory { SupabaseHistory() }

    /// A folder `supabase/migrations` beside `supabase/config.toml`, as the Supabase CLI lays out a project.
    /// The file is looked for first: `URL`'s first use in a process costs run-time type lookups, and
    /// most folders have no `config.toml` beside them.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        guard folder.fileExists("../config.toml") else { return false }
        let url = URL(fileURLWithPath: folder.path).standardized
        return url.lastPathComponent == "migrations" && url.deletingLastPathComponent().lastPathComponent == "supabase"
    }

    /// `supabase migration new <name>`: an empty `<timestamp>_<name>.sql`.
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)_\(slug).sql", "")]
    }
}
