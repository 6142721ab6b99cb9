import SQLKit

/// A transactional migration to apply in one call to the database (`DatabaseEngine.applyWhole`): the
/// steps a transaction of its own would take one statement at a time (take the runner lock, check
/// the history is the one the runner last read, run the statements, write the history rows, commit),
/// done by the database in one go. PostgreSQL gets a call of the session's migration function
/// (`PostgresMigrationFunction`) or a `DO` block (`PostgresMigrationBlock`) for each; on SQLite one call
/// of the server's own SQL function applies several (`SQLiteMigrationBatch`). Either declines, having
/// changed nothing, when the lock is taken or the history changed; the migrator then takes the long way.
struct WholeMigration {
    var migration: Migration
    /// The history as the runner expects it before this migration: the call declines when it differs.
    var expected: AppHistory.Fingerprint
    /// What the folder's tool writes once the migration is applied; `executionMs` is an SQL expression.
    var toolStatements: (SQLQueryString) -> [SQLQueryString]
    /// How its statements wait for locks: PostgreSQL sets `lock_timeout` inside the call (a
    /// `statement_timeout` set there would not bound the call itself, so the engine declines then).
    var policy = LockPolicy.off

    /// The history rows: the server's own, then the tool's. `executionMs` and `appliedAt` are SQL
    /// expressions (the database's own measurement of the migration's statements; the time it ends).
    func rowStatements(executionMs: SQLQueryString, appliedAt: SQLQueryString) -> [SQLQueryString] {
        let row = AppliedMigration(
            id: migration.id, checksum: migration.checksum, appliedAt: "", executionMs: 0, state: .applied)
        return [AppHistory.insertStatement(row, executionMs: executionMs, appliedAt: appliedAt)]
            + toolStatements(executionMs)
    }

    /// `query` with each bound value written in place of its placeholder (`$n` on PostgreSQL, `?n` on
    /// SQLite), as `literal` writes text; nil for a value of a kind this does not write, or text
    /// `literal` refuses. Only for the history statements (ours, with no such placeholder text
    /// elsewhere in them).
    static func inline(
        _ query: SQLQueryString, db: any SQLDatabase, placeholder: Unicode.Scalar, literal: (String) -> String?
    ) -> String? {
        var serializer = SQLSerializer(database: db)
        query.serialize(to: &serializer)
        var values: [String] = []
        for bind in serializer.binds {
            switch bind {
            case let text as String:
                guard let written = literal(text) else { return nil }
                values.append(written)
            case let number as Int: values.append(String(number))
            case let number as Int64: values.append(String(number))
            case let number as Int32: values.append(String(number))
            case let flag as Bool: values.append(flag ? "TRUE" : "FALSE")
            default: return nil
            }
        }
        // Byte by byte (the placeholder and digits are ASCII, so no byte of another character is one of
        // them): this runs for every history row of a run, and a walk by Unicode scalars took a tenth
        // of a folder of 200 migrations on SQLite.
        let sql = Array(serializer.sql.utf8)
        let marker = UInt8(ascii: placeholder)
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        var out: [UInt8] = []
        out.reserveCapacity(sql.count + values.reduce(0) { $0 + $1.utf8.count })
        var index = 0
        while index < sql.count {
            let byte = sql[index]
            index += 1
            guard byte == marker, index < sql.count, isDigit(sql[index]) else {
                out.append(byte)
                continue
            }
            var number = 0
            while index < sql.count, isDigit(sql[index]) {
                // Past the last value it is refused below, however many digits follow.
                number = min(number * 10 + Int(sql[index] - UInt8(ascii: "0")), values.count + 1)
                index += 1
            }
            guard number >= 1, number <= values.count else { return nil }
            out.append(contentsOf: values[number - 1].utf8)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
