import Foundation
import SQLKit
import Testing

@testable import AppCore

/// The server finds tables and columns through `pg_catalog` (`PostgresCatalog`), not through the
/// `information_schema` views, which cost a millisecond each to plan. It must see exactly what the
/// views show: the same relation kinds, the same schema, and nothing the role may not use.
@Suite(
    "tables and columns read from pg_catalog, as information_schema shows them", .dropsTestDatabases,
    .enabled(if: Tool.postgres))
struct PostgresCatalogTests {
    /// Every kind of relation, a dropped column, another schema (a tool's: Drizzle's), tables a role
    /// may use wholly, by one column only, or not at all, and history tables (goose's, Prisma's) among
    /// them.
    static let setup = """
        CREATE TABLE plain (a int, b int, c int);
        ALTER TABLE plain DROP COLUMN b;
        CREATE VIEW a_view AS SELECT a FROM plain;
        CREATE TABLE parted (k int, v text) PARTITION BY RANGE (k);
        CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
        CREATE MATERIALIZED VIEW a_matview AS SELECT 1 AS one;
        CREATE SEQUENCE a_sequence;
        CREATE INDEX plain_a ON plain (a);
        CREATE TYPE a_type AS (x int);
        CREATE TABLE hidden (secret text);
        CREATE TABLE granted (g int, h int);
        CREATE TABLE one_column (visible int, invisible int);
        CREATE TABLE goose_db_version (id int);
        CREATE TABLE _prisma_migrations (id text);
        CREATE SCHEMA drizzle;
        CREATE TABLE drizzle.__drizzle_migrations (id serial, hash text);
        CREATE TABLE drizzle.plain (z int);
        """

    static let names = [
        "plain", "a_view", "parted", "parted_1", "a_matview", "a_sequence", "plain_a", "a_type", "hidden", "granted",
        "one_column", "__drizzle_migrations", "goose_db_version", "_prisma_migrations", "no_such_table", "pg_class",
    ]

    @Test("as the owner and as a role with some grants: table names, each table's existence and columns agree")
    func agreesWithInformationSchema() async throws {
        let admin = try await TestDatabase.make(.postgres)
        for statement in Self.setup.split(separator: ";\n") { try await TestSQL.run(admin, String(statement)) }
        let dbName = String(admin.url.split(separator: "/").last!.split(separator: "?").first!)
        let role = "r_" + dbName
        try await TestDatabase.adminSQL("CREATE ROLE \(role) LOGIN")
        for grant in [
            "GRANT USAGE ON SCHEMA drizzle TO \(role)",
            "GRANT SELECT ON granted, plain, a_view, goose_db_version, drizzle.__drizzle_migrations TO \(role)",
            "GRANT SELECT (visible) ON one_column TO \(role)",
        ] {
            try await TestSQL.run(admin, grant)
        }
        var components = URLComponents(string: admin.url)!
        components.user = role
        components.password = nil
        let asRole = TestDatabase(
            location: try DatabaseLocation(url: components.string!), url: components.string!, dir: admin.dir)
        let seen: Result<(Set<String>, Set<String>), any Error>
        do {
            seen = .success((try await Self.compare(admin), try await Self.compare(asRole)))
        } catch {
            seen = .failure(error)
        }
        try await TestSQL.run(admin, "DROP OWNED BY \(role)")
        try await TestDatabase.adminSQL("DROP ROLE \(role)")
        let (ownerSees, roleSees) = try seen.get()
        // The comparison means something: the role sees less than the owner, and neither sees everything.
        #expect(ownerSees.contains("hidden") && !roleSees.contains("hidden"))
        #expect(roleSees.contains("granted") && roleSees.contains("one_column"))
        #expect(ownerSees.contains("_prisma_migrations") && !roleSees.contains("_prisma_migrations"))
        #expect(!ownerSees.contains("a_matview") && !ownerSees.contains("a_sequence"))
    }

    /// Compares, on one connection that also holds a temporary table, what the engine reads with what
    /// the views answer; returns the base tables seen.
    static func compare(_ db: TestDatabase) async throws -> Set<String> {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                try await sql.raw("CREATE TEMPORARY TABLE a_temp (t int)").run()
                let engine = database.engine
                func views(_ query: SQLQueryString) async throws -> Set<String> {
                    Set(try await sql.raw(query).all().map { try $0.decode(column: "v", as: String.self) })
                }
                let baseTables = try await views(
                    """
                    SELECT table_name::text AS v FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                    """)
                let asked = names + ["a_temp", "absent"]
                #expect(try await engine.tableNames(sql, among: asked) == baseTables.intersection(asked))
                // Each name's columns as the views list them, for the one-query read below too.
                var viewColumns: [String: Set<String>] = [:]
                for name in names + ["a_temp"] {
                    let listed = try await views(
                        """
                        SELECT table_name::text AS v FROM information_schema.tables
                        WHERE table_schema = current_schema() AND table_name = \(bind: name)
                        """)
                    #expect(try await engine.tableExists(sql, name) == !listed.isEmpty, "\(name)")
                    let columns = try await views(
                        """
                        SELECT column_name::text AS v FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = \(bind: name)
                        """)
                    #expect(try await engine.columnNames(sql, table: name) == columns, "\(name)")
                    viewColumns[name] = columns
                }
                // Names and columns in one query: the same names, and each table's columns as the views
                // list them (a view of a listed name has columns, and is no table).
                let (found, columns) = try await engine.tablesAndColumns(sql, among: asked, schemas: ["drizzle"])
                #expect(found == (try await engine.tableNames(sql, among: asked, schemas: ["drizzle"])))
                let expected = viewColumns.filter { found.contains($0.key) && !$0.value.isEmpty }
                #expect(columns == expected)
                #expect(found.filter { !$0.contains(".") }.allSatisfy { viewColumns[$0] != nil })
                #expect(found.contains("drizzle.__drizzle_migrations") && columns["a_view"] == nil)
                let toolTables = try await views(
                    """
                    SELECT table_schema || '.' || table_name AS v FROM information_schema.tables
                    WHERE table_schema IN ('atlas_schema_revisions', 'drizzle', 'supabase_migrations')
                    """)
                // Only the history tables, in the connection's schema and in the tools' own.
                let history = Set(MigrationTools.historyTables)
                let all = try await MigrationTools.tableNames(sql, engine: engine)
                #expect(try await MigrationTools.tablesAndColumns(sql, engine: engine).names == all)
                #expect(
                    all
                        == baseTables.intersection(history).union(
                            toolTables.filter { history.contains(String($0.split(separator: ".", maxSplits: 1)[1])) }))
                #expect(all.contains("goose_db_version") && !all.contains("drizzle.plain"))
                #expect(
                    try await DrizzleHistory().exists(sql, engine: engine)
                        == toolTables.contains("drizzle.__drizzle_migrations"))
                // A tool's schema that is the connection's own: its table goes by both names, as
                // `tableNames` lists it, with its columns under the unqualified one.
                try await sql.raw("SET search_path TO drizzle").run()
                let inDrizzle = try await engine.tablesAndColumns(sql, among: asked, schemas: ["drizzle"])
                #expect(inDrizzle.names == (try await engine.tableNames(sql, among: asked, schemas: ["drizzle"])))
                #expect(inDrizzle.names.isSuperset(of: ["__drizzle_migrations", "drizzle.__drizzle_migrations"]))
                #expect(inDrizzle.columns["__drizzle_migrations"] == ["id", "hash"])
                try await sql.raw("RESET search_path").run()
                return baseTables
            }
        }
    }
}
