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
