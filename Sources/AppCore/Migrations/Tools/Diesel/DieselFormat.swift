import Foundation

/// Diesel's format (diesel-rs/diesel `diesel_migrations`): one folder per migration,
/// `<version>_<name>/up.sql` with an optional `down.sql` and `metadata.toml`. The version is the text
/// before the first `_` without its `-` (`2026-01-01-120000_x` is `20260101120000`), and migrations
/// apply in the order of their versions as text, as Diesel compares them. Files beside the folders,
/// and folders that are empty or start with `.`, are ignored, as Diesel ignores them; a folder without
/// `up.sql` is invalid. `metadata.toml`'s `run_in_transaction` says whether both directions run in a
/// transaction. Diesel's history is `__diesel_schema_migrations(version, run_on)`.
enum DieselFormat {
    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        var migrations: [Migration] = []
        var byVersion: [String: String] = [:]
        for name in folder.directories.sorted() where !name.hasPrefix(".") && !folder.isEmptyDirectory(name) {
            guard folder.fileExists("\(name)/up.sql") else {
                throw MigrationsInvalid(file: name, line: nil, reason: "a migration folder without up.sql")
            }
            let version = self.version(of: name)
            if let other = byVersion[version] {
                throw MigrationsInvalid(file: name, line: nil, reason: "version \(version) is also used by \(other)")
            }
            byVersion[version] = name
            let upFile = "\(name)/up.sql"
            let up = try folder.text(of: upFile)
            // Diesel refuses to run an empty up.sql.
            guard !up.isEmpty else { throw MigrationsInvalid(file: upFile, line: nil, reason: "the file is empty") }
            let transactional = try runsInTransaction(folder, name)
            var down: [String]?
            let downFile = "\(name)/down.sql"
            if folder.fileExists(downFile) {
                down = try MigrationFolder.statements(
                    folder.text(of: downFile), file: downFile, lineOffset: 0, dialect: dialect)
            }
            migrations.append(
                Migration(
                    id: name,
                    statements: try MigrationFolder.statements(up, file: upFile, lineOffset: 0, dialect: dialect),
                    down: down, transactional: transactional, downTransactional: transactional,
                    checksum: Migration.checksum(ofSection: up), toolKey: version,
                    orderKey: Migration.textOrderKey(version)
                ))
        }
        return migrations
    }

    /// Diesel's version: the text before the first `_`, every `-` removed.
    static func version(of name: String) -> String {
        String(name.prefix(while: { $0 != "_" })).replacingOccurrences(of: "-", with: "")
    }

    /// `metadata.toml`'s `run_in_transaction`, as Diesel reads it: no file, or one that is not TOML,
    /// is true (Diesel falls back to its defaults); a TOML file without the key is false (the field's
    /// own default, `#[serde(default)]` on a `bool`).
    static func runsInTransaction(_ folder: MigrationFolder.Listing, _ name: String) throws(MigrationsInvalid) -> Bool {
        let file = "\(name)/metadata.toml"
        guard folder.fileExists(file) else { return true }
        var value = false
        for line in try folder.text(of: file).lines() {
            let text = line.trimmingSpaces()
            if text.isEmpty || text.hasPrefix("#") { continue }
            let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            guard parts.count == 2, !parts[0].isEmpty else { return true }
            guard parts[0] == "run_in_transaction" else { continue }
            // A trailing comment after the value is TOML too.
            switch parts[1].split(separator: "#", maxSplits: 1).first?.trimmingSpaces() {
            case "true": value = true
            case "false": value = false
            default: return true
            }
        }
        return value
    }
}

extension MigrationFolder.Listing {
    /// True when the sub-folder `name` holds no entry (Diesel skips such folders).
    func isEmptyDirectory(_ name: String) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: Self.join(path, name))) ?? []
        return entries.isEmpty
    }
}

extension MigrationFormat {
    static let diesel = MigrationFormat(declaring: "diesel")
}

extension DieselFormat: MigrationTool {
    static var format: MigrationFormat { .diesel }
    static let markers: [String] = []
    static var history: any ToolHistory { DieselHistory() }

    /// A sub-folder holding `up.sql`: a layout only Diesel uses.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.directories.contains { !$0.hasPrefix(".") && folder.fileExists("\($0)/up.sql") }
    }

    /// `diesel migration generate <name>`: `<yyyy-mm-dd-hhmmss>_<name>/up.sql` and `down.sql`.
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        let digits = Array(stamp)
        let dated =
            digits.count == 14
            ? "\(String(digits[0..<4]))-\(String(digits[4..<6]))-\(String(digits[6..<8]))-\(String(digits[8..<14]))"
            : stamp
        return [
            ("\(dated)_\(slug)/up.sql", "-- Your SQL goes here\n"),
            ("\(dated)_\(slug)/down.sql", "-- This file should undo anything in `up.sql`\n"),
        ]
    }
}
