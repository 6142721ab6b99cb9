import SQLKit

/// Every tool whose folders the server reads. Adding a tool is a folder under `Tools/` and a line here;
/// the order is the one names are listed in (`MIGRATIONS_FORMAT`'s help, a folder that fits two).
enum MigrationTools {
    static let all: [any MigrationTool.Type] = [
        DbmateFormat.self,
        GolangMigrateFormat.self,
        PrismaFormat.self,
        FlywayFormat.self,
        DrizzleFormat.self,
        SQLMigrateFormat.self,
        GooseFormat.self,
        SQLxFormat.self,
        DieselFormat.self,
        SupabaseFormat.self,
        YoyoFormat.self,
        AtlasFormat.self,
    ]
}

extension MigrationTools {
    /// Every name a history table goes by: the server's own, each tool's, and those of the tools whose
    /// folders the server does not read. The only names `tableNames` looks for.
    static let historyTables: [String] = Set(
        [AppHistory.table] + all.map { $0.history.table } + OtherHistories.tables.map(\.table)
    ).sorted()

    /// Those of the history tables (`historyTables`) the connection's schema holds and, on PostgreSQL,
    /// `schema.table` for each of them in the schemas tools keep their history in
    /// (`ToolHistory.postgresSchema`), in one query, where each such tool asked on its own, for every
    /// tool's `exists(in:)`. Asked by name: a database's other tables, however many, are not listed.
    static func tableNames(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Set<String> {
        try await engine.tableNames(db, among: historyTables, schemas: schemas(engine))
    }

    /// `tableNames`, and the columns of those of them in the connection's schema, by table
    /// (`DatabaseEngine.tablesAndColumns`: one query on PostgreSQL).
    static func tablesAndColumns(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> (
        names: Set<String>, columns: [String: Set<String>]
    ) {
        try await engine.tablesAndColumns(db, among: historyTables, schemas: schemas(engine))
    }

    /// The tools' own schema names, constants of this code; none on SQLite.
    private static func schemas(_ engine: any DatabaseEngine) -> [String] {
        engine.kind == .postgres ? Set(all.compactMap { $0.history.postgresSchema }).sorted() : []
    }
}
