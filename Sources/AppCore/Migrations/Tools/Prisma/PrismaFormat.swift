import Crypto
import Foundation

/// Prisma Migrate's format: one folder per migration, `<timestamp>_<name>/migration.sql`, beside
/// `migration_lock.toml`; no down migrations. Prisma's history is `_prisma_migrations`, a row per
/// applied migration with the SHA-256 of its `migration.sql` as written (a checkout with the other
/// line ending matches too, as in Prisma).
enum PrismaFormat {
    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        var migrations: [Migration] = []
        for name in folder.directories.sorted() where !name.hasPrefix(".") {
            let file = "\(name)/migration.sql"
            guard folder.fileExists(file) else {
                throw MigrationsInvalid(file: name, line: nil, reason: "a migration folder without migration.sql")
            }
            guard Migration.version(of: name) != nil else {
                throw MigrationsInvalid(
                    file: name, line: nil,
                    reason:
                        "the folder name must start with a number, as in 20261129093000_init, which orders the migrations"
                )
            }
            let raw = try folder.raw(of: file)
            let text = try folder.text(of: file)
            let (statements, transactional) = TransactionControl.wrapping(
                try MigrationFolder.statements(text, file: file, lineOffset: 0, dialect: dialect)
            )
            migrations.append(
                Migration(
                    id: name, statements: statements, down: nil, transactional: transactional, downTransactional: true,
                    checksum: Migration.checksum(ofSection: text), toolKey: name, toolChecksums: checksums(raw),
                    // Prisma applies its folders in the order of their names as text, whatever number they start with.
                    orderKey: Migration.textOrderKey(name)
                ))
        }
        return migrations
    }

    /// The file's SHA-256 as hex, then the same with CRLF read as LF and with LF written as CRLF.
    static func checksums(_ raw: Data) -> [String] {
        let text = String(decoding: raw, as: UTF8.self)
        var result: [String] = []
        for variant in [
            raw, Data(text.replacingOccurrences(of: "\r\n", with: "\n").utf8),
            Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8),
        ] {
            let hex = SecretGenerator.hexString(SHA256.hash(data: variant))
            if !result.contains(hex) { result.append(hex) }
        }
        return result
    }

    /// How early versions of Prisma wrote a checksum: each byte in hex without its leading zero.
    static func unpadded(_ hex: String) -> String {
        var result = ""
        var characters = hex.makeIterator()
        while let high = characters.next(), let low = characters.next() {
            if high != "0" { result.append(high) }
            result.append(low)
        }
        return result
    }
}

extension MigrationFormat {
    static let prisma = MigrationFormat(declaring: "prisma")
}

extension PrismaFormat: MigrationTool {
    static var format: MigrationFormat { .prisma }
    static let markers: [String] = []
    static var history: any ToolHistory { PrismaHistory() }

    /// `migration_lock.toml`, or a sub-folder holding `migration.sql`.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.names.contains("migration_lock.toml")
            || folder.directories.contains { folder.fileExists("\($0)/migration.sql") }
    }

    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)_\(slug)/migration.sql", "-- Prisma has no down migrations.\n")]
    }
}
