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

    /// SHA-256, as lowercase hex, of the migration's SQL; computed once, compared on every run.
    public let checksum: String

    public init(id: String, statements: [String]) {
        self.id = id
        self.statements = statements
        self.checksum = SecretGenerator.hexString(SHA256.hash(data: Data(statements.joined(separator: ";\n").utf8)))
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
