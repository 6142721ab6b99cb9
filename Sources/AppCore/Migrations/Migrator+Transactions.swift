import Foundation
import Logging
import SQLKit

/// The migrator's transactions and locks, and how an error inside a migration is named.
extension Migrator {
    /// How the body of a locked transaction ends it: the transaction commits or rolls back itself.
    enum TransactionEnd<T> {
        case commit(T)
        /// COMMIT, whose failure is that migration's (a deferred constraint is checked there).
        case commitFailingAs(String, T)
        /// Nothing of it is kept.
        case rollBack(T)
    }

    /// Opens a transaction holding the runner lock (or throws `.lockTimeout`), runs `body` and ends the
    /// transaction as the body says; an error rolls it back.
    func inLockedTransaction<T>(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, heldRunLock: Bool,
        _ body: () async throws -> TransactionEnd<T>
    ) async throws -> T {
        let waitStarted = ContinuousClock.now
        guard try await database.engine.beginLocked(db, deadline: deadline, heldRunLock: heldRunLock) else {
            throw MigrationError.lockTimeout
        }
        onLockWait?(ContinuousClock.now - waitStarted)
        do {
            switch try await body() {
            case .commit(let result):
                try await db.raw("COMMIT").run()
                return result
            case .commitFailingAs(let id, let result):
                try await failing(as: id) { try await db.raw("COMMIT").run() }
                return result
            case .rollBack(let result):
                try await db.raw("ROLLBACK").run()
                return result
            }
        } catch {
            await rollBackTransaction(db, after: error)
            throw error
        }
    }

    /// Runs `body` under the run lock, or throws `.lockTimeout` when it cannot be had by `deadline`.
    func underRunLock<T: Sendable>(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T
    ) async throws -> T {
        guard let result = try await runLocked(db, deadline: deadline, body) else { throw MigrationError.lockTimeout }
        return result
    }

    /// The engine's run lock, with a transaction pooler's refusal named as the migrator names it.
    func runLocked<T: Sendable>(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T)
        async throws -> T?
    {
        do {
            return try await database.engine.withRunLock(db, deadline: deadline, body)
        } catch is TransactionPoolerRefused {
            throw MigrationError.transactionPooler
        }
    }

    /// Ends the open transaction after `error`. Nothing is sent on a lost connection: the server already
    /// rolled the transaction back, and a query sent on a closing connection may never be answered.
    func rollBackTransaction(_ db: any SQLDatabase, after error: any Error) async {
        guard !database.engine.isConnectionLost(error) else { return }
        try? await db.raw("ROLLBACK").run()
    }

    /// Runs `body`; an error becomes `.failed(migration:)`, or `.connectionLost(migration:)` when the
    /// connection went, logged with its cause.
    func failing<T>(as id: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as MigrationError {
            throw error
        } catch let error where database.engine.isLockWaitTimeout(error) {
            // Tried again by the run (`LockRetries`), or reported as blocked after the last try.
            throw MigrationError.blockedByLock(migration: id, blocker: nil)
        } catch {
            let lost = database.engine.isConnectionLost(error)
            logger.error(
                lost ? "connection lost during a migration" : "migration failed",
                metadata: ["migration": "\(id)", "cause": "\(AppDatabase.describe(error))"])
            throw lost ? MigrationError.connectionLost(migration: id) : MigrationError.failed(migration: id)
        }
    }

    func run(_ statements: [String], _ db: any SQLDatabase) async throws {
        for statement in statements {
            try await db.raw("\(unsafeRaw: statement)").run()
        }
    }
}
