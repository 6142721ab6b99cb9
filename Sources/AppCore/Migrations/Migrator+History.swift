import Foundation
import Logging
import SQLKit

/// Reading both histories, and bringing them into agreement.
extension Migrator {
    /// Both histories under the runner lock, reconciled, the table created (or carried over) first.
    func lockedLedger(_ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws -> Ledger {
        try await inLockedTransaction(db, deadline: deadline, heldRunLock: false) {
            try await history.create(db, logger: logger)
            return .commit(try await reconcile(db))
        }
    }

    /// Both histories as they are; writes nothing. `start`: the read's first questions, already
    /// answered (`HistoryStart`).
    /// Before the first run of this version the server's history is still in the legacy table, and read there.
    func readLedger(_ db: any SQLDatabase, start: HistoryStart? = nil) async throws -> Ledger {
        // Which tables exist, read once for every question below.
        let names: Set<String>
        if let start {
            names = start.names
        } else {
            names = try await MigrationTools.tableNames(db, engine: database.engine)
        }
        // The history tables' columns read ahead, if any: otherwise each table's are asked where needed.
        let columns = start?.columns ?? [:]
        try await refuseForeignHistory(db, names: names, columns: columns)
        let oursExists = names.contains(AppHistory.table)
        let legacy = oursExists ? false : try await history.hasLegacy(db)
        let rows: [AppliedMigration]
        if oursExists {
            if let read = start?.rows { rows = try read.get() } else { rows = try await history.rows(db) }
        } else {
            rows = legacy ? try await history.rows(db, table: AppHistory.legacyTable) : []
        }
        guard let tool = toolHistory, try await tool.exists(in: names, db, engine: database.engine) else {
            return Ledger(rows: rows, tool: nil, legacy: legacy)
        }
        // Before the first run, `schema_migrations` may still be this server's own legacy history.
        if tool.table == AppHistory.legacyTable, legacy { return Ledger(rows: rows, tool: nil, legacy: legacy) }
        return Ledger(rows: rows, tool: try await readTool(tool, db, columns: columns), legacy: legacy)
    }

    /// Refuses, before anything runs or is written, a database that holds another tool's history than
    /// the folder's: that tool keeps the database, and the folder read in another format would run
    /// again what it applied. (A table of the folder's tool's own name laid out as another tool's is
    /// `readTool`'s to name.) Nothing for the built-in set, or a folder with no migrations.
    /// `names`: the tables `MigrationTools.tableNames` read; `columns`: as `ToolHistory.isToolsTable`'s.
    func refuseForeignHistory(_ db: any SQLDatabase, names: Set<String>, columns: [String: Set<String>] = [:])
        async throws
    {
        guard let format = catalog.format else { return }
        for other in OtherHistories.tables where names.contains(other.table) {
            throw MigrationError.foreignHistory(table: other.table, tool: other.tool)
        }
        for tool in MigrationTools.all
        where tool.format != format && tool.history.qualifiedTable != format.history.qualifiedTable {
            if try await tool.history.isPresent(in: names, db, engine: database.engine, columns: columns) {
                throw MigrationError.foreignHistory(table: tool.history.qualifiedTable, tool: tool.format.rawValue)
            }
        }
    }

    /// `columns`: as `ToolHistory.isToolsTable`'s.
    func readTool(_ tool: any ToolHistory, _ db: any SQLDatabase, columns: [String: Set<String>] = [:]) async throws
        -> ToolLedger
    {
        guard try await tool.isToolsTable(db, engine: database.engine, columns: columns) else {
            // Another tool's table of the same name (golang-migrate's schema_migrations under a dbmate folder)?
            for other in MigrationTools.all
            where other.history.qualifiedTable == tool.qualifiedTable && other.format != catalog.format {
                if try await other.history.isToolsTable(db, engine: database.engine, columns: columns) {
                    throw MigrationError.foreignHistory(table: tool.table, tool: other.format.rawValue)
                }
            }
            throw MigrationError.foreignHistory(table: tool.table)
        }
        do {
            return try await tool.read(db, migrations: migrations, engine: database.engine.kind)
        } catch let error where !database.engine.isConnectionLost(error) && !(error is CancellationError) {
            // Not the columns the folder's tool writes: another tool's table of the same name.
            throw MigrationError.foreignHistory(table: tool.table)
        }
    }

    /// Under the runner lock (inside its transaction, the server's table in place): brings the two
    /// histories into agreement, the tool's deciding.
    /// - No tool table yet: it is created and filled from the server's rows.
    /// - A migration the tool records as applied without a row here gets one, marked adopted (the
    ///   tool applied it: before the switch, or while it had taken over again); nothing runs again.
    /// - A row here whose migration the tool does not count as applied (the tool rolled it back) is
    ///   removed, and the migration is pending again.
    func reconcile(_ db: any SQLDatabase) async throws -> Ledger {
        if catalog.format != nil {
            try await refuseForeignHistory(db, names: MigrationTools.tableNames(db, engine: database.engine))
        }
        var rows = try await history.rows(db)
        guard let tool = toolHistory else { return Ledger(rows: rows, tool: nil) }
        let engine = database.engine.kind
        let byID = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        if try await !tool.exists(db, engine: database.engine) {
            try await tool.create(db, engine: engine)
            try await tool.backfill(
                migrations.filter { byID[$0.id].map { !$0.isRunning } ?? false }, db, engine: engine)
            if let running = rows.first(where: \.isRunning),
                let migration = migrations.first(where: { $0.id == running.id })
            {
                try await tool.recordStarted(migration, db)
            }
        }
        let ledger = try await readTool(tool, db)
        let plan = plan(Ledger(rows: rows, tool: ledger))
        for migration in plan.toAdopt {
            try await history.insert(
                AppliedMigration(
                    id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: 0,
                    state: .adopted
                ), db)
            logger.notice("migration adopted from \(tool.table)", metadata: ["migration": "\(migration.id)"])
        }
        for migration in plan.toForget {
            try await history.delete(migration.id, db)
            logger.notice(
                "migration pending again: \(tool.table) no longer records it",
                metadata: ["migration": "\(migration.id)"])
        }
        if !plan.toAdopt.isEmpty || !plan.toForget.isEmpty { rows = try await history.rows(db) }
        return Ledger(rows: rows, tool: ledger)
    }
}

/// What every read of the histories starts with, whatever the folder holds: which history tables the
/// database has, the columns of those of them in the connection's schema (which tool's table each is
/// laid out as is the read's next question, once the folder's format is known) and, when the server's
/// own is among them, its rows. A one-shot command reads it while it reads its migrations folder
/// (`Migrator.historyAhead`), on the connection it opened meanwhile. Read a moment before the rest of
/// the history, as the read's statements always were moments apart (no snapshot holds them
/// together): a run that finds anything to do reads it all again under the runner lock.
public struct HistoryStart: Sendable {
    let names: Set<String>
    /// The columns of each history table of the connection's schema but the server's own, by table,
    /// read with the names (one query on PostgreSQL): a table with none the role may see has no entry,
    /// and the read asks for them itself.
    let columns: [String: Set<String>]
    /// The server's own rows, or why they could not be read (another tool's table of its name, say):
    /// the read raises that where it reads them, after the questions it asks first. Nil when the
    /// table is not there.
    let rows: Result<[AppliedMigration], any Error>?

    /// Reads it on one of `database`'s connections.
    public static func read(_ database: AppDatabase) async throws -> HistoryStart {
        try await database.withConnection { db in
            let (names, all) = try await MigrationTools.tablesAndColumns(db, engine: database.engine)
            let columns = all.filter { $0.key != AppHistory.table }
            guard names.contains(AppHistory.table) else {
                return HistoryStart(names: names, columns: columns, rows: nil)
            }
            do {
                return HistoryStart(
                    names: names, columns: columns,
                    rows: .success(try await AppHistory(engine: database.engine).rows(db)))
            } catch {
                return HistoryStart(names: names, columns: columns, rows: .failure(error))
            }
        }
    }
}
