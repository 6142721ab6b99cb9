import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresKit
import Testing

@testable import AppCore

/// Builds the real application on a fresh database and drives it through Hummingbird's test client.
enum AppHarness {
    static func config(_ db: TestDatabase, _ variables: [String: String]) throws -> AppConfig {
        var all = ["APP_ENV": "test", "DATABASE_URL": db.url, "MIGRATION_LOCK_TIMEOUT": "5"]
        all.merge(variables) { $1 }
        SecretSweep.secrets(in: all)
        return try AppConfig(variables: all)
    }

    static func run(
        _ engine: Engine,
        _ variables: [String: String] = ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session],
        mode: TestingSetup = .router,
        logs: LogCapture = LogCapture(),
        migrations: [Migration] = Migration.all,
        _ body: @Sendable (any TestClientProtocol, TestDatabase) async throws -> Void
    ) async throws {
        let db = try await TestDatabase.make(engine)
        let config = try config(db, variables)
        // The body starts once the startup report is out, as a caller of `app serve --port-file` does.
        let (reports, reported) = AsyncStream<Void>.makeStream()
        let app = try buildApplication(
            config: config, logger: logs.logger(level: .debug), migrations: migrations,
            onChecksReported: { _ in reported.yield() }
        )
        try await app.sweptTest(mode) { client in
            for await _ in reports { break }
            try await body(client, db)
        }
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }
    var text: String { String(buffer: body) }
}

/// The history table's ids, read straight from the database (nil when the table does not exist).
func historyIDs(_ db: TestDatabase) async throws -> [String]? {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withRunning {
        try await database.withConnection { sql -> [String]? in
            do {
                return try await sql.raw("SELECT id FROM app_migrations ORDER BY id").all().map {
                    try $0.decode(column: "id", as: String.self)
                }
            } catch {
                return nil
            }
        }
    }
}

/// Table names in the database (the connection's schema), for checking what a migration left behind.
func tableNames(_ db: TestDatabase) async throws -> Set<String> {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    let query: SQLQueryString =
        database.kind == .sqlite
        ? "SELECT name AS t FROM sqlite_master WHERE type = 'table'"
        : "SELECT tablename::text AS t FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
    return try await database.withRunning {
        try await database.withConnection { sql in
            Set(try await sql.raw(query).all().map { try $0.decode(column: "t", as: String.self) })
        }
    }
}

/// The row count of every table of the connection's schema but the server's own history (which
/// adoption fills), by name.
func rowCounts(_ db: TestDatabase) async throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for table in try await tableNames(db) where table != AppHistory.table && !table.hasPrefix("sqlite_") {
        counts[table] = try await count(db, "SELECT COUNT(*) AS n FROM \"\(table)\"")
    }
    return counts
}
