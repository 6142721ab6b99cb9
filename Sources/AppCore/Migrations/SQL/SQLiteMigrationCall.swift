import AppSQLiteShim
import NIOCore
import SQLKit

/// A transactional migration applied on SQLite in one call of `app_migrate_whole`, an SQL function
/// of the server's own (Sources/AppSQLiteShim) that runs on the connection it is called on: BEGIN
/// IMMEDIATE, the history check, the migration's statements, the history rows, COMMIT — the same
/// statements the long way sends one by one, each of which is otherwise a hop to SQLiteNIO's thread
/// pool and back. Any statement's error rolls the transaction back and comes out of the call as that
/// statement's own error.
struct SQLiteMigrationCall {
    /// The SELECT that answers 1 while the history is the one the runner read.
    var check: String
    /// The migration's statements, then the history rows (`:app_migrate_ms` in them is the
    /// migration's run time), each ending in a NUL byte.
    var statements: ByteBuffer
    /// How many of `statements` are the migration's own.
    var count: Int

    /// Sets up every SQLite connection opened from now on (once per process): the function, and
    /// foreign keys on.
    static let installed: Bool = app_sqlite_shim_install() == 0

    /// Nil when the migration cannot go this way (a NUL byte in a statement, which SQLite would read
    /// as the statement's end; a value the history rows cannot write as a literal): the long way then.
    init?(_ whole: WholeMigration, db: any SQLDatabase) {
        let expected = whole.expected
        var last = "NULL"
        if let id = expected.last {
            guard let written = Self.literal(id) else { return nil }
            last = written
        }
        check = """
            SELECT n = \(expected.count) AND last_id IS \(last) AND running = \(expected.running)
            FROM (\(AppHistory.Fingerprint.query(.sqlite)))
            """
        var rows: [String] = []
        for statement in whole.rowStatements(executionMs: ":app_migrate_ms") {
            guard let text = WholeMigration.inline(statement, db: db, placeholder: "?", literal: Self.literal) else {
                return nil
            }
            rows.append(text)
        }
        let all = whole.migration.statements + rows
        guard !all.contains(where: { $0.utf8.contains(0) }) else { return nil }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(all.reduce(0) { $0 + $1.utf8.count + 1 })
        for statement in all {
            buffer.writeString(statement)
            buffer.writeInteger(UInt8(0))
        }
        statements = buffer
        count = whole.migration.statements.count
    }

    /// Applies it; the migration's run time in milliseconds, or nil when it declined (another writer
    /// holds SQLite's write lock past the busy timeout, or the history changed), having changed nothing.
    func apply(_ db: any SQLDatabase) async throws -> Int64? {
        let row = try await db.raw(
            "SELECT app_migrate_whole(\(bind: check), \(bind: statements), \(bind: count)) AS ms"
        ).first()
        guard let ms = try row?.decode(column: "ms", as: Int64.self), ms >= 0 else { return nil }
        return ms
    }

    /// An SQLite string literal (quotes doubled); nil for text holding a NUL byte.
    static func literal(_ text: String) -> String? {
        guard !text.utf8.contains(0) else { return nil }
        return "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
    }
}
