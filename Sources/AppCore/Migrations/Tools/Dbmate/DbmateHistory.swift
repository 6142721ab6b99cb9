import Foundation
import SQLKit

/// dbmate: `schema_migrations(version varchar primary key)` (`varchar(128)` on SQLite), a row per applied version.
struct DbmateHistory: ToolHistory {
    let table = "schema_migrations"
    var columns: (has: [String], hasNot: [String]) { (["version"], ["dirty", "checksum"]) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("create table if not exists \(unsafeRaw: table) (version varchar primary key)").run()
        case .sqlite:
            try await db.raw("create table if not exists \"\(unsafeRaw: table)\" (version varchar(128) primary key)")
                .run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let versions = Set(
            try await db.raw("select version from \(unsafeRaw: table)").all().map {
                try $0.decode(column: "version", as: String.self)
            })
        return ToolLedger(applied: Set(migrations.filter { versions.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        ["insert into \(unsafeRaw: table) (version) values (\(bind: migration.toolKey))"]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw("delete from \(unsafeRaw: table) where version = \(bind: migration.toolKey)").run()
    }
}
