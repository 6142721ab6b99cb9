import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("another tool's history table", .dropsTestDatabases)
struct ForeignHistoryTests {
    @Test(
        "a schema_migrations table written by dbmate is left alone beside app_migrations", arguments: Engine.available)
    func dbmateTable(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)")
        try await TestSQL.run(db, "INSERT INTO schema_migrations (version) VALUES ('20260101000000')")
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: quietLogger, migrations: Migration.all).sweptTest(.router) {
            client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .ok)
            }
        }
        #expect(
            try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations WHERE version = '20260101000000'") == 1)
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == Migration.all.count)
    }

    @Test(
        "an app_migrations table this server did not write: 409, not altered, nothing applied, and the check says so",
        arguments: Engine.available)
    func foreignTable(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        try await TestSQL.run(db, "CREATE TABLE app_migrations (version VARCHAR(128) PRIMARY KEY)")
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: quietLogger, migrations: Migration.all).sweptTest(.router) {
            client in
            for method in [HTTPRequest.Method.post, .get] {
                try await client.execute(uri: "/api/migrate", method: method, headers: authHeader) { response in
                    #expect(response.status == .conflict)
                    #expect(
                        NSDictionary(dictionary: response.json) == [
                            "success": false, "error": "Migration history belongs to another tool",
                        ])
                }
            }
        }
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let untouched = try await database.withRunning {
            try await database.withConnection { sql in
                try await database.engine.columnExists(sql, table: "app_migrations", column: "state")
            }
        }
        #expect(!untouched)
        #expect(try await !tableNames(db).contains("users"))
        let checked = try AppDatabase(location: db.location, logger: quietLogger)  // a pool runs once
        let report = try await checked.withRunning {
            await runStartupChecks(
                CheckContext(
                    config: config, database: checked, migrations: Migration.all, databaseTimeout: ChecksTests.loaded),
                checks: StartupCheck.all.filter { $0.name == "database" })
        }
        #expect(report.ids == ["migrations.foreign-history"])
        #expect(report.results.first?.level == .error)
    }
}
