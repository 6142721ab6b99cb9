import Foundation
import Logging
import SQLKit

/// Rolling back and resolving: the command line's alone.
extension Migrator {
    /// Runs the down sections of the `steps` newest applied migrations (by version), newest first, each
    /// with the removal of its history rows in one transaction. Refuses, changing nothing, when one of
    /// them has no down section. Returns the ids rolled back.
    public func rollback(steps: Int) async throws -> [String] {
        try await refreshed().rollBack(steps: steps)
    }

    private func rollBack(steps: Int) async throws -> [String] {
        try validCatalog()
        let deadline = ContinuousClock.now + lockTimeout
        return try await database.withConnection(busyTimeout: SQLiteEngine.lockPollBusyTimeout, reusable: false) { db in
            let ledger = try await lockedLedger(db, deadline: deadline)
            if let running = ledger.runningID { throw MigrationError.interrupted(migration: running) }
            let known = Set(migrations.map(\.id))
            if let unknown = ledger.rows.first(where: { !known.contains($0.id) }) {
                throw MigrationError.unknownMigration(unknown.id)
            }
            let applied = Array(plan(ledger).applied.reversed())
            let targets = applied.prefix(max(0, steps))
            if let missing = targets.first(where: { $0.down == nil }) {
                throw MigrationError.noDownSection(migration: missing.id)
            }
            var done: [String] = []
            for (index, migration) in targets.enumerated() {
                let previous = index + 1 < applied.count ? applied[index + 1] : nil
                try await rollBack(migration, previous: previous, db, deadline: deadline)
                done.append(migration.id)
                logger.info("migration rolled back", metadata: ["migration": "\(migration.id)"])
            }
            return done
        }
    }

    /// `previous`: the newest migration still applied after this one is rolled back.
    func rollBack(
        _ migration: Migration, previous: Migration?, _ db: any SQLDatabase, deadline: ContinuousClock.Instant
    ) async throws {
        let statements = migration.down ?? []
        let forget = { () async throws in
            try await history.delete(migration.id, db)
            try await toolHistory?.recordRolledBack(migration, previous: previous, db, engine: database.engine.kind)
        }
        if migration.downTransactional {
            try await inLockedTransaction(db, deadline: deadline, heldRunLock: false) {
                try await failing(as: migration.id) {
                    try await run(statements, db)
                    try await forget()
                }
                return .commitFailingAs(migration.id, ())
            }
        } else {
            try await underRunLock(db, deadline: deadline) {
                try await failing(as: migration.id) {
                    try await database.engine.runOutsideTransaction(
                        statements, policy: .off, db, stopped: { throw $0 })
                    try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                        try await forget()
                        return .commit(())
                    }
                }
            }
        }
    }

    /// Clears an interrupted migration: `applied` keeps its row (it was finished by hand), otherwise the
    /// row is removed (it was undone by hand) and the migration is pending again. The tool's history
    /// is set to match.
    public func resolve(_ id: String, applied: Bool) async throws {
        try await refreshed().resolveNow(id, applied: applied)
    }

    private func resolveNow(_ id: String, applied: Bool) async throws {
        let deadline = ContinuousClock.now + lockTimeout
        try await database.withConnection(busyTimeout: SQLiteEngine.lockPollBusyTimeout, reusable: false) { db in
            try await underRunLock(db, deadline: deadline) {
                try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                    try await history.create(db, logger: logger)
                    let ledger = try await reconcile(db)
                    let row = ledger.byID[id]
                    guard row?.isRunning == true || ledger.tool?.interrupted == id else {
                        throw MigrationError.notInterrupted(migration: id)
                    }
                    let migration = migrations.first(where: { $0.id == id })
                    if toolHistory != nil, migration == nil { throw MigrationError.unknownMigration(id) }
                    if applied {
                        if row != nil {
                            try await history.markApplied(id, db)
                        } else if let migration {
                            try await history.insert(
                                AppliedMigration(
                                    id: id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: 0,
                                    state: .adopted
                                ), db)
                        }
                        if let migration {
                            try await toolHistory?.recordApplied(
                                migration, executionMs: 0, db, engine: database.engine.kind)
                        }
                    } else {
                        try await history.delete(id, db)
                        if let migration {
                            let byID = ledger.byID
                            let previous = migrations.last { $0.id != id && ledger.isApplied($0, rows: byID) }
                            try await toolHistory?.recordRolledBack(
                                migration, previous: previous, db, engine: database.engine.kind)
                        }
                    }
                    return .commit(())
                }
            }
        }
        logger.info(
            "interrupted migration resolved",
            metadata: ["migration": "\(id)", "as": "\(applied ? "applied" : "rolled back")"])
    }
}
