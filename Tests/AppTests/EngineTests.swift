import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("engines", .dropsTestDatabases)
struct EngineTests {
    @Test(
        "PostgreSQL cases run: the cluster from scripts/test answers (skipped here means every PostgreSQL case was left out)",
        .enabled(if: Tool.postgres))
    func postgresCasesRun() async throws {
        #expect(Engine.available == [.sqlite, .postgres])
        let admin = try #require(TestDatabase.adminURL, "TEST_DATABASE_URL is not set; run the tests with scripts/test")
        let database = try AppDatabase(location: try DatabaseLocation(url: admin), logger: quietLogger)
        let problem = try await database.withRunning { await database.problem(timeout: .seconds(30)) }
        #expect(problem == nil)
    }

    @Test(
        "withRunning starts PostgreSQL's pool before its work: the work's first lease finds it running, and does not wait for it",
        .enabled(if: Tool.postgres))
    func poolRunsBeforeTheWork() async throws {
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let engine = try #require(database.engine as? PostgresEngine)
        #expect(!engine.runs)
        for _ in 0..<20 {
            let again = try AppDatabase(location: db.location, logger: quietLogger)
            let runs = try await again.withRunning { (again.engine as? PostgresEngine)?.runs }
            #expect(runs == true)
        }
    }

    @Test(
        "the catalog questions write their names into the query as literals: a name with a quote is asked for as itself, and nothing of it runs",
        arguments: Engine.available)
    func quotedNames(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        try await TestSQL.run(db, #"CREATE TABLE "it's" ("o'clock" INTEGER)"#)
        try await TestSQL.run(db, "CREATE TABLE t (id INTEGER)")
        let hostile = "t') OR ('1' = '1"
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let (names, exists, hostileExists, columns, hostileColumns, both) = try await database.withRunning {
            try await database.withConnection { sql in
                let engine = database.engine
                return (
                    try await engine.tableNames(sql, among: ["it's", hostile, "nope"]),
                    try await engine.tableExists(sql, "it's"), try await engine.tableExists(sql, hostile),
                    try await engine.columnNames(sql, table: "it's"), try await engine.columnNames(sql, table: hostile),
                    try await engine.tablesAndColumns(sql, among: ["it's", hostile, "nope"], schemas: [])
                )
            }
        }
        #expect(names == ["it's"])
        #expect(both.names == ["it's"] && both.columns == ["it's": ["o'clock"]])
        #expect(exists && !hostileExists)
        #expect(columns == ["o'clock"] && hostileColumns.isEmpty)
    }

    @Test(
        "which of the history tables there are and their columns, in one query, is what the two queries give: a view and a missing table are none of them",
        arguments: Engine.available)
    func oneQueryAsTwo(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY, dirty BOOLEAN)")
        try await TestSQL.run(db, "CREATE TABLE goose_db_version (id INTEGER, version_id BIGINT, is_applied BOOLEAN)")
        try await TestSQL.run(db, "CREATE VIEW gorp_migrations AS SELECT 1 AS id")
        try await TestSQL.run(db, "CREATE TABLE unrelated (id INTEGER)")
        let asked = ["schema_migrations", "goose_db_version", "gorp_migrations", "_sqlx_migrations", "unrelated"]
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let (one, names, columns) = try await database.withRunning {
            try await database.withConnection { sql in
                let engine = database.engine
                let names = try await engine.tableNames(sql, among: asked)
                return (
                    try await engine.tablesAndColumns(sql, among: asked, schemas: []), names,
                    try await engine.columnNames(sql, tables: asked.filter(names.contains))
                )
            }
        }
        #expect(names == ["schema_migrations", "goose_db_version", "unrelated"])
        #expect(one.names == names)
        #expect(one.columns == columns)
        #expect(one.columns["goose_db_version"] == ["id", "version_id", "is_applied"])
    }
}
