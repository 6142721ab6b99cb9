import Crypto
import Foundation
import PostgresKit
import SQLKit

/// A transactional migration applied on PostgreSQL by one call of a PL/pgSQL function of the
/// server's own, which does what `PostgresMigrationBlock`'s `DO` block does (lock, history check, the
/// statements by `EXECUTE`, the history rows, deferred constraints checked) with the migration passed
/// as parameters. A `DO` block is compiled anew for every migration; the function once per session,
/// which takes about a tenth off the server's time for a folder of small migrations.
///
/// The function is a temporary one (`pg_temp`): it lives in the run's session only, and the server
/// creates nothing in the team's schema. Its name carries a hash of its text, so a session that has a
/// function of that name has this very function (behind a transaction pooler, a session another
/// instance of the server used). A session that does not have it (a pooler handed the call to
/// another one, or a migration ran `DISCARD TEMP`) refuses the call (42883, or 3F000 when it has no
/// temporary schema at all), having run nothing; the migration then goes as a `DO` block.
enum PostgresMigrationFunction {
    static let body = """
        DECLARE app_migrate_started_ timestamptz; app_migrate_history_ record; app_migrate_statement_ text;
        BEGIN
        FOREACH app_migrate_statement_ IN ARRAY settings LOOP
          EXECUTE app_migrate_statement_;
        END LOOP;

        """ + PostgresMigrationBlock.checks(rows: "expected_rows", last: "expected_last", running: "expected_running")
            + """
            FOREACH app_migrate_statement_ IN ARRAY statements LOOP
              EXECUTE app_migrate_statement_;
            END LOOP;
            PERFORM set_config('\(executionMsSetting)', floor(extract(epoch FROM clock_timestamp() - app_migrate_started_) * 1000)::bigint::text, true);
            FOREACH app_migrate_statement_ IN ARRAY history LOOP
              EXECUTE app_migrate_statement_;
            END LOOP;
            SET CONSTRAINTS ALL IMMEDIATE;
            END
            """

    /// Named by a hash of its parameters and code: another text is another function.
    static let name: String = {
        let digest = sha256(ofUTF8: signature + body)
        return "pg_temp.app_migrate_" + digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }()

    static let signature =
        "(expected_rows bigint, expected_last text, expected_running bigint, statements text[], history text[], settings text[])"

    /// Creates the function in the session (or replaces it with itself).
    static let definition =
        "CREATE OR REPLACE FUNCTION \(name)\(signature) RETURNS void LANGUAGE plpgsql AS $app_migrate_function$\n\(body)\n$app_migrate_function$"

    /// A transaction-local setting the history rows read the migration's run time from (dynamic SQL
    /// cannot see the function's variables).
    static let executionMsSetting = "app_migrate.execution_ms"

    /// An SQL expression, true when the session has the function.
    static let exists = "to_regprocedure('\(name)(bigint, text, bigint, text[], text[], text[])') IS NOT NULL"

    /// The call that applies `whole`, or nil when a history value cannot be written as a literal (the
    /// caller then takes another way).
    static func call(_ whole: WholeMigration, db: any SQLDatabase) -> SQLQueryString? {
        var history: [String] = []
        for statement in whole.rowStatements(
            executionMs: "current_setting('\(unsafeRaw: executionMsSetting)')::bigint",
            appliedAt: "\(bind: RFC3339.string())")
        {
            guard
                let text = WholeMigration.inline(
                    statement, db: db, placeholder: "$", literal: PostgresMigrationBlock.literal)
            else { return nil }
            history.append(text)
        }
        let expected = whole.expected
        return """
            SELECT \(unsafeRaw: name)(\(bind: Int64(expected.count)), \(bind: expected.last), \(bind: Int64(expected.running)), \
            \(bind: whole.migration.statements), \(bind: history), \(bind: whole.policy.settings))
            """
    }

    /// True when the session has no such function (42883), or no temporary objects at all (3F000:
    /// `pg_temp` does not exist yet); nothing ran. The same codes from a migration's own statement
    /// come from inside the function, with PL/pgSQL's context: those are the migration's failure.
    static func missing(_ error: any Error) -> Bool {
        guard let info = (error as? PSQLError)?.serverInfo, info[.locationContext] == nil else { return false }
        return info[.sqlState] == "42883" || info[.sqlState] == "3F000"
    }
}
