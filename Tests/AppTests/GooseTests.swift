import Foundation
import Testing

@testable import AppCore

/// goose's files as pressly/goose's `internal/sqlparser` reads them, and its `goose_db_version` as goose
/// writes and reads it.
@Suite("goose: its files and its history", .dropsTestDatabases)
struct GooseTests {
    static func load(_ files: [String: String], dialect: SQLEngine = .sqlite) throws -> MigrationCatalog {
        let folder = try MigrationsDir(files)
        return MigrationCatalog.load(folder: folder.path, dialect: dialect)
    }

    @Test("sections, blocks, statements ended at a line's last ;, NO TRANSACTION anywhere, annotations in any case")
    func reading() throws {
        let catalog = try Self.load([
            "00001_a.sql": """
            -- a comment before the section
            -- +goose NO TRANSACTION
            -- +goose up
            CREATE TABLE a (id INTEGER, note TEXT); -- the first
            INSERT INTO a VALUES (1, 'x
            y');
            -- +goose statementbegin
            CREATE TRIGGER t AFTER INSERT ON a BEGIN
                UPDATE a SET note = 'z' WHERE id = NEW.id;
            END;
            INSERT INTO a VALUES (2, 'w');
            -- +goose StatementEnd

            -- +goose Down
            DROP TABLE a;

            """,
            "2_b.sql": "-- +goose Up\n",
        ])
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.format == .goose)
        let first = try #require(catalog.migrations.first)
        #expect(!first.transactional && !first.downTransactional)
        #expect(first.toolKey == "1")
        // A block is split as the engine runs it: goose hands it over whole.
        #expect(
            first.statements == [
                "CREATE TABLE a (id INTEGER, note TEXT)", "INSERT INTO a VALUES (1, 'x\ny')",
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n    UPDATE a SET note = 'z' WHERE id = NEW.id;\nEND",
                "INSERT INTO a VALUES (2, 'w')",
            ])
        #expect(first.down == ["DROP TABLE a"])
        let second = try #require(catalog.migrations.last)
        #expect(second.statements.isEmpty && second.down == nil && second.transactional)
    }

    @Test(
        "what goose refuses is invalid, naming file and line: no Up, SQL before it, a missing ;, an unclosed block, an unknown or indented annotation, ENVSUB, a Go migration, a bad or shared version",
        arguments: [
            (
                ["1_a.sql": "-- +goose Down\nDROP TABLE a;\n"],
                "1_a.sql:1: \"-- +goose Down\" is goose's marker, but no file"
            ),
            (["1_a.sql": "CREATE TABLE a (id INTEGER);\n-- +goose Up\n"], "1_a.sql:1: SQL before -- +goose Up"),
            (
                ["1_a.sql": "-- +goose Up\nCREATE TABLE a (id INTEGER)\n-- +goose Down\n"],
                "1_a.sql:2: a statement that is not ended by ;"
            ),
            (
                ["1_a.sql": "-- +goose Up\nCREATE TABLE a (id INTEGER)\n"],
                "1_a.sql:2: a statement that is not ended by ;"
            ),
            (
                ["1_a.sql": "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n"],
                "1_a.sql:2: -- +goose StatementBegin is not closed"
            ),
            (
                ["1_a.sql": "-- +goose Up\n-- +goose Sideways\n"],
                "1_a.sql:2: \"-- +goose Sideways\": unknown annotation"
            ),
            (
                ["1_a.sql": "-- +goose Up\n  -- +goose Down\n"],
                "1_a.sql:2: \"  -- +goose Down\": an annotation may not be indented"
            ),
            (["1_a.sql": "-- +goose Up\n-- +goose Up\n"], "1_a.sql:2: a second -- +goose Up"),
            (
                ["1_a.sql": "-- +goose Down\nDROP TABLE a;\n", "2_b.sql": "-- +goose Up\n"],
                "1_a.sql:1: -- +goose Down before -- +goose Up"
            ),
            // goose ends a statement at a line whose last word ends with ;, even inside quotes, and the
            // engine then refuses the piece: refused here before anything runs.
            (["1_a.sql": "-- +goose Up\nINSERT INTO a VALUES ('x;\ny');\n"], "1_a.sql:2: a string is not closed"),
            (
                ["1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nCREATE TABLE ${TABLE} (id INTEGER);\n"],
                "1_a.sql:2: -- +goose ENVSUB ON puts environment variables into the SQL"
            ),
            (["1_a.sql": "-- +goose Up\n", "2_b.go": "package migrations\n"], "2_b.go: a migration written in Go"),
            (
                ["1_a.sql": "-- +goose Up\n", "a_b.sql": "-- +goose Up\n"],
                "a_b.sql: the text before the first _ is not a version"
            ),
            (["1_a.sql": "-- +goose Up\n", "2.sql": "-- +goose Up\n"], "2.sql: no _ after the version"),
            (["0_a.sql": "-- +goose Up\n"], "0_a.sql: the version must be 1 or more"),
            (["1_a.sql": "-- +goose Up\n", "001_b.sql": "-- +goose Up\n"], "version 1 is also used by"),
        ])
    func refusals(_ files: [String: String], _ expected: String) throws {
        let catalog = try Self.load(files)
        let invalid = try #require(catalog.invalid, "\(files) was read")
        #expect(invalid.description.contains(expected), "\(invalid)")
        #expect(catalog.migrations.isEmpty)
    }

    @Test("a _test.go file is no migration (goose skips it)")
    func goTestFile() throws {
        let catalog = try Self.load(["1_a.sql": "-- +goose Up\n", "a_test.go": "package migrations\n"])
        #expect(catalog.invalid == nil && catalog.migrations.count == 1)
    }

    @Test(
        "goose_db_version: made with its version-0 row; a rollback deletes the version's rows; an older goose's rollback row (is_applied false, newest) makes it pending again",
        arguments: Engine.available)
    func history(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir([
            "1_a.sql": "-- +goose Up\nCREATE TABLE a (id INTEGER);\n-- +goose Down\nDROP TABLE a;\n",
            "2_b.sql": "-- +goose Up\nCREATE TABLE b (id INTEGER);\n-- +goose Down\nDROP TABLE b;\n",
        ])
        let rows =
            "SELECT CAST(version_id AS TEXT) || ':' || CAST(CASE WHEN is_applied THEN 1 ELSE 0 END AS TEXT) AS v FROM goose_db_version ORDER BY id"
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["1_a", "2_b"])
            #expect(try await texts(db, rows) == ["0:1", "1:1", "2:1"])
            #expect(try await migrator.rollback(steps: 1) == ["2_b"])
            #expect(try await texts(db, rows) == ["0:1", "1:1"])
            #expect(try await migrator.migrate() == ["2_b"])
            // goose before v3.8 recorded a rollback as a row of its own.
            try await TestSQL.run(
                db,
                "INSERT INTO goose_db_version (version_id, is_applied) VALUES (2, \(engine == .postgres ? "false" : "0"))"
            )
            try await TestSQL.run(db, "DROP TABLE b")
            #expect(try await migrator.status().pending == ["2_b"])
            #expect(try await migrator.migrate() == ["2_b"])
        }
        #expect(try await texts(db, rows) == ["0:1", "1:1", "2:1", "2:0", "2:1"])
    }
}
