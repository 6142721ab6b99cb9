import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

/// Failures after a migration's statements ran, inside its transaction: a failed migration (500 with
/// its id, nothing of it left), unless the connection itself is gone (503).
@Suite("migration failures inside the transaction", .dropsTestDatabases)
struct TransactionFailureTests {
    static let auth: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]

    static func post(
        _ engine: Engine, _ migration: Migration, logs: LogCapture = LogCapture(),
        _ check: @Sendable @escaping (TestResponse) -> Void
    ) async throws -> TestDatabase {
        let db = try await TestDatabase.make(engine)
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: logs.logger(), migrations: Migration.all + [migration])
            .sweptTest(.router) { client in
                try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { check($0) }
            }
        return db
    }

    @Test(
        "a history-row INSERT that fails is a failed migration: 500 with its id, rolled back whole",
        arguments: Engine.available)
    func insertFails(_ engine: Engine) async throws {
        // The migration drops the history table, so the INSERT of its own row fails.
        let migration = Migration(
            id: "0005_drop_history", statements: ["CREATE TABLE gadgets (id INTEGER)", "DROP TABLE app_migrations"])
        let logs = LogCapture()
        let db = try await Self.post(engine, migration, logs: logs) { response in
            #expect(response.status == .internalServerError)
            #expect(response.json["error"] as? String == "Migration failed")
            #expect(response.json["migration"] as? String == "0005_drop_history")
        }
        #expect(try await historyIDs(db) == Migration.all.map(\.id), "the DROP was rolled back with the migration")
        #expect(try await !tableNames(db).contains("gadgets"))
        #expect(logs.lines.contains { $0.level == .error && $0.text.contains("0005_drop_history") })
    }

    @Test(
        "a COMMIT that fails (a deferred foreign key) is a failed migration: 500 with its id",
        arguments: Engine.available)
    func commitFails(_ engine: Engine) async throws {
        let migration = Migration(
            id: "0005_deferred",
            statements: [
                "CREATE TABLE parents (id INTEGER PRIMARY KEY)",
                "CREATE TABLE children (parent INTEGER REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)",
                "INSERT INTO children (parent) VALUES (7)",
            ])
        let db = try await Self.post(engine, migration) { response in
            #expect(response.status == .internalServerError)
            #expect(response.json["error"] as? String == "Migration failed")
            #expect(response.json["migration"] as? String == "0005_deferred")
        }
        #expect(try await historyIDs(db) == Migration.all.map(\.id))
        #expect(try await tableNames(db).isDisjoint(with: ["parents", "children"]))
    }

    @Test(
        "a connection lost in the middle of a migration is 503 Database unavailable, not a failed migration",
        .enabled(if: Tool.postgres))
    func connectionLost() async throws {
        let migration = Migration(
            id: "0005_lose_connection",
            statements: [
                "CREATE TABLE lost (id INTEGER)", "SELECT pg_terminate_backend(pg_backend_pid())",
            ])
        let db = try await Self.post(.postgres, migration) { response in
            #expect(response.status == .serviceUnavailable)
            #expect(response.json["error"] as? String == "Database unavailable")
            #expect(response.json["migration"] as? String == "0005_lose_connection")
        }
        #expect(try await historyIDs(db) == Migration.all.map(\.id))
        #expect(try await !tableNames(db).contains("lost"))
    }
}
