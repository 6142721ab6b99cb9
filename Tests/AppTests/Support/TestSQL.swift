import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import SQLiteKit
import Synchronization
import Testing

@testable import AppCore

enum TestSQL {
    static func run(_ db: TestDatabase, _ statement: String) async throws {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { try await $0.raw("\(unsafeRaw: statement)").run() }
        }
    }
}

/// An integer from a one-row query, read straight from the database.
func count(_ db: TestDatabase, _ query: String) async throws -> Int {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withRunning {
        try await database.withConnection { sql in
            try await sql.raw("\(unsafeRaw: query)").first()!.decode(column: "n", as: Int.self)
        }
    }
}

/// The first column of every row of `query`, as text, in the order the query gives.
func texts(_ db: TestDatabase, _ query: String) async throws -> [String] {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withRunning {
        try await database.withConnection { sql in
            try await sql.raw("\(unsafeRaw: query)").all().map { try $0.decode(column: "v", as: String.self) }
        }
    }
}

/// The journal mode the file is in, read on a connection of SQLiteNIO's own (which sets none).
func journalMode(_ db: TestDatabase) async throws -> String {
    guard case .sqlite(let path) = db.location else { throw NotSQLite() }
    let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: quietLogger)
    do {
        let mode = try await connection.query("PRAGMA journal_mode").first?.column("journal_mode")?.string
        try await connection.close()
        return mode ?? ""
    } catch {
        try? await connection.close()
        throw error
    }
}

/// The schema a database holds, as its engine prints it (SQLite's `sqlite_master`, PostgreSQL's
/// `pg_dump --schema-only`), without the history tables of the server and the tools.
func schema(_ db: TestDatabase) async throws -> String {
    let histories = [
        "app_migrations", "schema_migrations", "gorp_migrations", "_prisma_migrations", "flyway_schema_history",
        "__drizzle_migrations", "goose_db_version", "_sqlx_migrations", "__diesel_schema_migrations", "_yoyo_migration",
        "_yoyo_log", "_yoyo_version", "yoyo_lock", "atlas_schema_revisions",
        // SQLite's own table for AUTOINCREMENT keys (goose's table has one).
        "sqlite_sequence",
    ]
    if db.sqlitePath != nil {
        return try await texts(
            db,
            """
            SELECT sql AS v FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name NOT IN ('\(histories.joined(separator: "','"))') ORDER BY name
            """
        ).joined(separator: ";\n")
    }
    let out = try await runProcess(
        [
            "pg_dump", "--schema-only", "--no-owner", "-N", "drizzle", "-N", "supabase_migrations", "-N",
            "atlas_schema_revisions",
        ]
            + histories.flatMap { ["-T", $0] } + [db.url])
    try #require(out.status == 0, "\(out.stderr)")
    // pg_dump's \restrict lines carry a random key; comments and blank lines say nothing about the schema.
    return out.out.split(separator: "\n")
        .filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") && !$0.hasPrefix("--") && !$0.isEmpty }
        .joined(separator: "\n")
}

struct NotSQLite: Error {}
