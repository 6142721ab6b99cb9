import PostgresKit
import SQLKit

/// A transactional migration sent to PostgreSQL as one statement: a `DO` block that takes the runner
/// lock, checks that the history is still the one the runner last read, runs the migration's statements
/// (`EXECUTE`, one by one, in order), and writes the history rows. It runs in the implicit transaction
/// of a single statement, so it commits whole or not at all, like the seven statements it replaces
/// (BEGIN, lock, history check, the statements, history rows, COMMIT), in one round trip instead of one
/// per statement. PL/pgSQL takes a fresh snapshot for each statement it runs, so the history check
/// sees every migration committed before the lock was taken, as the separate statements do.
///
/// The block cannot take bound parameters: every value is written into it as a literal (`E'…'` with
/// quotes and backslashes doubled, whatever `standard_conforming_strings` says).
struct PostgresMigrationBlock {
    /// Raised by the block when another runner holds the lock: nothing ran, try the long way.
    static let lockBusy = "AM001"
    /// Raised by the block when the history changed since the runner read it: nothing ran.
    static let historyChanged = "AM002"
    /// Raised by the block outside READ COMMITTED: nothing ran. Under REPEATABLE READ or SERIALIZABLE
    /// the history check would see the snapshot of the block's start, from before the lock, and a
    /// SERIALIZABLE transaction can fail at its COMMIT (below).
    static let notReadCommitted = "AM003"

    /// The block's text, or nil when a value cannot be written as a literal (the caller then takes the
    /// long way). The history rows get the block's own measurement of the run time as `executionMs`.
    static func render(_ whole: WholeMigration, db: any SQLDatabase) -> String? {
        let expected = whole.expected
        let ms = "app_migrate_ms_"
        var body = """
            DECLARE app_migrate_started_ timestamptz; \(ms) bigint; app_migrate_history_ record;
            BEGIN

            """
        for setting in whole.policy.settings { body += "EXECUTE \(literal(setting));\n" }
        body += checks(
            rows: "\(expected.count)", last: expected.last.map(literal) ?? "NULL", running: "\(expected.running)")
        for statement in whole.migration.statements {
            body += "EXECUTE \(literal(statement));\n"
        }
        body += "\(ms) := floor(extract(epoch FROM clock_timestamp() - app_migrate_started_) * 1000);\n"
        for statement in whole.rowStatements(executionMs: "\(unsafeRaw: ms)", appliedAt: "\(bind: RFC3339.string())") {
            guard let text = WholeMigration.inline(statement, db: db, placeholder: "$", literal: literal) else {
                return nil
            }
            body += text + ";\n"
        }
        // Deferred constraints (and constraint triggers) are checked here, inside the statement, not at
        // the implicit COMMIT after it: an error there arrives after the statement's completion, which
        // PostgresNIO does not wait for (it never answers the query). With this, nothing is left to
        // fail at COMMIT under READ COMMITTED but the server itself (a full disk, a crash), which ends
        // the connection.
        body += "SET CONSTRAINTS ALL IMMEDIATE;\nEND\n"
        var tag = "$app_migrate$"
        var suffix = 0
        while body.contains(tag) {
            suffix += 1
            tag = "$app_migrate_\(suffix)$"
        }
        return "DO \(tag)\n\(body)\(tag)"
    }

    /// The steps before a migration's statements, in PL/pgSQL, for the block and the migration function
    /// alike: READ COMMITTED, the runner lock, the history as the runner last read it (`rows`, `last`
    /// and `running` are SQL expressions), then the start of the clock. Declares nothing: the code
    /// around it declares `app_migrate_history_ record` and `app_migrate_started_ timestamptz`.
    static func checks(rows: String, last: String, running: String) -> String {
        """
        IF current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE EXCEPTION 'a migration sent whole needs READ COMMITTED' USING ERRCODE = '\(notReadCommitted)';
        END IF;
        IF NOT pg_try_advisory_xact_lock(\(migrationLockKey)) THEN
          RAISE EXCEPTION 'another runner holds the migration lock' USING ERRCODE = '\(lockBusy)';
        END IF;
        \(AppHistory.Fingerprint.query(.postgres, into: "app_migrate_history_"));
        IF app_migrate_history_.n <> \(rows)
           OR app_migrate_history_.last_id IS DISTINCT FROM \(last)
           OR app_migrate_history_.running <> \(running) THEN
          RAISE EXCEPTION 'the migration history changed' USING ERRCODE = '\(historyChanged)';
        END IF;
        app_migrate_started_ := clock_timestamp();

        """
    }

    /// True for the block's own refusals, after which nothing has changed.
    static func declined(_ error: any Error) -> Bool {
        guard let pg = error as? PSQLError, let state = pg.serverInfo?[.sqlState] else { return false }
        return state == lockBusy || state == historyChanged || state == notReadCommitted
    }

    /// A string literal that reads back as `text` whatever the server's settings.
    static func literal(_ text: String) -> String {
        var out = "E'"
        out.reserveCapacity(text.utf8.count + 8)
        for character in text {
            switch character {
            case "'": out += "''"
            case "\\": out += "\\\\"
            default: out.append(character)
            }
        }
        return out + "'"
    }
}
