/// The history tables of migration tools whose folders the server does not read (yet). A database
/// holding one is kept by that tool: a folder run on it in another tool's format would run
/// migrations that tool already applied, so it is refused (`Migrator.refuseForeignHistory`).
enum OtherHistories {
    /// Each tool's table, as the tool names it (in the connection's schema).
    static let tables: [(tool: String, table: String)] = [
        ("Liquibase", "databasechangelog")
    ]
}
