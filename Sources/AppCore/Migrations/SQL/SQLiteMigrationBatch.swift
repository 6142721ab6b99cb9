import AppSQLiteShim
import NIOCore
import SQLKit

/// Transactional migrations applied on SQLite in one call of `app_migrate_batch`, an SQL function of
/// the server's own (Sources/AppSQLiteShim) that runs on the connection it is called on. For each
/// migration in turn it does what the long way sends statement by statement (BEGIN IMMEDIATE, the
/// history check, the migration's statements, the history rows, COMMIT), each of which is otherwise a
/// hop to SQLiteNIO's thread pool and back, and reports the migration as it commits. A statement's
/// error rolls its migration back and comes out of the call as that statement's own error; the
/// migrations before it stay committed, each already reported.
struct SQLiteMigrationBatch {
    /// For each migration: the counts of its own statements and of all with the history rows, then the
    /// check (a SELECT that answers 1 while the history is the one expected before it) and each
    /// statement (`:app_migrate_ms` in the history rows is the migration's run time), each ending in a
    /// NUL byte.
    var blob: ByteBuffer

    /// Sets up every SQLite connection opened from now on (once per process): the functions, and
    /// foreign keys on.
    static let installed: Bool = app_sqlite_shim_install() == 0

    /// The longest prefix of `batch` that can go this way (the call stops at its end, and the run asks
    /// again from there); nil when its first migration cannot (a NUL
    /// byte in a statement, which SQLite would read as the statement's end; a value the history rows
    /// cannot write as a literal): the long way then.
    init?(_ batch: [WholeMigration], db: any SQLDatabase) {
        var blob = ByteBuffer()
        var count = 0
        for whole in batch {
            guard let texts = Self.texts(whole, db: db) else { break }
            blob.writeInteger(UInt32(whole.migration.statements.count), endianness: .host)
            blob.writeInteger(UInt32(texts.count - 1), endianness: .host)
            for text in texts {
                blob.writeString(text)
                blob.writeInteger(UInt8(0))
            }
            count += 1
        }
        guard count > 0 else { return nil }
        self.blob = blob
    }

    /// The check, the migration's statements and its history rows; nil when one cannot go in the blob.
    private static func texts(_ whole: WholeMigration, db: any SQLDatabase) -> [String]? {
        let expected = whole.expected
        var last = "NULL"
        if let id = expected.last {
            guard let written = literal(id) else { return nil }
            last = written
        }
        var texts = [
            """
            SELECT n = \(expected.count) AND last_id IS \(last) AND running = \(expected.running)
            FROM (\(AppHistory.Fingerprint.query(.sqlite)))
            """
        ]
        texts += whole.migration.statements
        for statement in whole.rowStatements(executionMs: ":app_migrate_ms", appliedAt: sqliteRFC3339()) {
            guard let text = WholeMigration.inline(statement, db: db, placeholder: "?", literal: literal) else {
                return nil
            }
            texts.append(text)
        }
        return texts.contains(where: { $0.utf8.contains(0) }) ? nil : texts
    }

    /// Applies them in order, calling `applied` with each one's index and run time in milliseconds as
    /// it commits (on SQLite's thread). Returns how many it applied: it stops, having changed nothing
    /// more, where another writer holds SQLite's write lock past the busy timeout or the history is
    /// not the one expected.
    func apply(_ db: any SQLDatabase, applied: @escaping @Sendable (Int, Int64) -> Void) async throws -> Int {
        let run = Unmanaged.passRetained(Progress(applied))
        defer { run.release() }
        // A number no SQL can know, so no other call can reach `applied`.
        var token: Int64 = 0
        for _ in 0..<3 where token == 0 {
            let candidate = Int64.random(in: 1...Int64.max)
            if app_sqlite_shim_register_run(candidate, Progress.report, run.toOpaque()) == 0 { token = candidate }
        }
        guard token != 0 else { return 0 }
        defer { app_sqlite_shim_unregister_run(token) }
        let row = try await db.raw("SELECT app_migrate_batch(\(bind: token), \(bind: blob)) AS n").first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }

    private final class Progress: Sendable {
        let applied: @Sendable (Int, Int64) -> Void
        init(_ applied: @escaping @Sendable (Int, Int64) -> Void) { self.applied = applied }

        static let report: app_migrate_progress = { context, index, milliseconds in
            guard let context else { return }
            Unmanaged<Progress>.fromOpaque(context).takeUnretainedValue().applied(Int(index), milliseconds)
        }
    }

    /// An SQLite string literal (quotes doubled); nil for text holding a NUL byte.
    static func literal(_ text: String) -> String? {
        guard !text.utf8.contains(0) else { return nil }
        return "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
    }
}
