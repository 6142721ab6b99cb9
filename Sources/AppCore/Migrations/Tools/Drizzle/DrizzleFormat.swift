import Crypto
import Foundation

/// Drizzle Kit's format: `meta/_journal.json` lists the migrations in order (`idx`, `when`, `tag`),
/// each `<tag>.sql` with its statements separated by `--> statement-breakpoint`; no down migrations.
/// Drizzle's history is `__drizzle_migrations(id, hash, created_at)` (in the schema `drizzle` on
/// PostgreSQL): a row per applied migration with the SHA-256 of its file and its `when`. Drizzle
/// counts every migration whose `when` is not after the newest row's `created_at` as applied.
enum DrizzleFormat {
    static let journal = "meta/_journal.json"
    static let breakpoint = "--> statement-breakpoint"

    struct Journal: Decodable {
        struct Entry: Decodable {
            var idx: Int
            var when: Int64
            var tag: String
        }

        var entries: [Entry]
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        let entries: [Journal.Entry]
        do {
            entries = try JSONDecoder().decode(Journal.self, from: try folder.raw(of: journal)).entries
        } catch let error as MigrationsInvalid {
            throw error
        } catch {
            throw MigrationsInvalid(
                file: journal, line: nil, reason: "not a Drizzle journal (entries with idx, when and tag)")
        }
        var migrations: [Migration] = []
        var seen: [Int64: String] = [:]
        for entry in entries.sorted(by: { $0.idx < $1.idx }) {
            let file = "\(entry.tag).sql"
            guard folder.fileExists(file) else {
                throw MigrationsInvalid(file: journal, line: nil, reason: "\(file) is listed but missing")
            }
            if let other = seen[entry.when] {
                throw MigrationsInvalid(file: journal, line: nil, reason: "\(entry.tag) has the same when as \(other)")
            }
            seen[entry.when] = entry.tag
            let raw = try folder.raw(of: file)
            let text = try folder.text(of: file)
            var statements: [String] = []
            var line = 0
            for chunk in text.components(separatedBy: breakpoint) {
                statements += try MigrationFolder.statements(chunk, file: file, lineOffset: line, dialect: dialect)
                line += chunk.filter { $0 == "\n" }.count
            }
            migrations.append(
                Migration(
                    id: entry.tag, statements: statements, down: nil, transactional: true, downTransactional: true,
                    checksum: Migration.checksum(ofSection: text), toolKey: String(entry.when),
                    toolChecksums: [SecretGenerator.hexString(SHA256.hash(data: raw))], orderKey: [String(entry.idx)]
                ))
        }
        return migrations
    }
}

extension MigrationFormat {
    static let drizzle = MigrationFormat(declaring: "drizzle")
}

extension DrizzleFormat: MigrationTool {
    static var format: MigrationFormat { .drizzle }
    static let markers: [String] = []
    static var history: any ToolHistory { DrizzleHistory() }

    /// `meta/_journal.json`.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.fileExists(journal)
    }

    /// Nil: drizzle-kit writes the journal entry with the file.
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? { nil }
}
