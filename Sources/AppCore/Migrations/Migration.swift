import Crypto
import Foundation

/// One schema change, defined once for SQLite and PostgreSQL.
///
/// Once applied, a migration is never edited: its checksum in the history table makes an edit visible,
/// and the migrator refuses to run on a history that no longer matches the code.
public struct Migration: Sendable, Identifiable {
    /// `NNNN_what_it_does`, ordered by its number.
    public let id: String
    /// Executed in order inside one transaction, with the migration's history row.
    public let statements: [String]

    public init(id: String, statements: [String]) {
        self.id = id
        self.statements = statements
    }

    /// SHA-256, as lowercase hex, of the migration's SQL.
    public var checksum: String {
        let sql = statements.joined(separator: ";\n")
        return SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

extension Migration {
    /// Every migration the app ships, in order. Add a new file under Catalog/ and list it here.
    public static let all: [Migration] = [
        .createUsers,
        .createAccounts,
        .createSessions,
        .createVerificationTokens,
    ]
}
