import Foundation
import SQLKit
import Testing

@testable import AppCore

@Suite("folders of other tools: recognising and reading them")
struct ToolFormatReadingTests {
    static let dbmateFile = "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n"
    static let sqlMigrateFile = "-- +migrate Up\nCREATE TABLE a (id INTEGER);\n-- +migrate Down\nDROP TABLE a;\n"
    static let gooseFile = "-- +goose Up\nCREATE TABLE a (id INTEGER);\n-- +goose Down\nDROP TABLE a;\n"

    struct Case: Sendable, CustomTestStringConvertible {
        var files: [String: String]
        var setting: String? = nil
        /// The format's name, or "invalid: <part of the reason>".
        var expected: String
        var testDescription: String { "\(files.keys.sorted()) \(setting ?? "") → \(expected)" }
    }

    static let cases: [Case] = [
        Case(files: [:], expected: "none"),
        Case(files: ["README.md": "notes"], expected: "none"),
        Case(files: ["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);"], expected: "dbmate"),
        // Numbered files without markers: sqlx's layout (which has no markers), chosen only by sqlx's
        // history in the database; never dbmate's.
        Case(files: ["1_a.sql": "CREATE TABLE a (id INTEGER);"], expected: "shared: sqlx"),
        Case(
            files: ["1_a.sql": "CREATE TABLE a (id INTEGER);"], setting: "dbmate",
            expected: "invalid: 1_a.sql: no -- migrate:up line"),
        Case(files: ["1_a.sql": gooseFile], expected: "goose"),
        Case(
            files: ["1_a.sql": gooseFile], setting: "dbmate",
            expected: "invalid: 1_a.sql:1: \"-- +goose Up\" is goose's marker, but the folder is read as dbmate's"),
        Case(
            files: ["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n--+goose Down\nDROP TABLE a;\n"],
            expected: "invalid: 1_a.sql:3: \"--+goose Down\" is goose's marker"),
        Case(
            files: ["1_a.up.sql": "-- depends: 0000_init\nCREATE TABLE a (id INTEGER);"],
            expected: "invalid: 1_a.up.sql: depends on 0000_init, which is not in the folder"),
        Case(
            files: ["V1__a.sql": "SELECT 1;\n  --liquibase formatted sql\n"],
            expected: "invalid: V1__a.sql:2: \"--liquibase formatted sql\" is Liquibase's marker"),
        Case(
            files: ["1_a.sql": "-- migrate:up\n-- atlas:txmode none\nCREATE TABLE a (id INTEGER);"],
            expected: "invalid: 1_a.sql:2: \"-- atlas:txmode none\" is atlas's marker"),
        Case(
            files: ["1_a.sql": sqlMigrateFile + "-- migrate:down\n"], setting: "sql-migrate",
            expected: "invalid: 1_a.sql:5: \"-- migrate:down\" is dbmate's marker"),
        Case(
            files: [
                "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER); -- +goose is mentioned here, not a marker\n"
            ], expected: "dbmate"),
        Case(
            files: ["notes.sql": "CREATE TABLE a (id INTEGER);"],
            expected: "invalid: the folder fits none of the formats"),
        Case(
            files: ["notes.sql": "CREATE TABLE a (id INTEGER);", "2_b.sql": "-- migrate:up\nSELECT 1;"],
            expected: "invalid: notes.sql: the name must start with a version"),
        Case(files: ["20260101000000_a.sql": dbmateFile], expected: "dbmate"),
        Case(
            files: ["1_a.up.sql": "CREATE TABLE a (id INTEGER);", "1_a.down.sql": "DROP TABLE a;"],
            expected: "shared: golang-migrate, sqlx"),
        Case(
            files: ["1_a.up.sql": "CREATE TABLE a (id INTEGER);", "1_a.down.sql": "DROP TABLE a;"],
            setting: "golang-migrate", expected: "golang-migrate"),
        Case(
            files: ["1_a.up.sql": "CREATE TABLE a (id INTEGER);", "1_a.down.sql": "DROP TABLE a;"], setting: "sqlx",
            expected: "sqlx"),
        Case(files: ["1_a.up.sql": "SELECT 1;", "2_b.sql": "SELECT 2;"], expected: "shared: sqlx"),
        Case(
            files: ["1_a.sql": "SELECT 1;", "1_a.down.sql": "SELECT 2;"], setting: "sqlx",
            expected: "invalid: 1_a.down.sql: a down file for 1_a.sql, which is not an .up.sql file"),
        Case(
            files: ["a_b.sql": "SELECT 1;"], setting: "sqlx",
            expected: "invalid: a_b.sql: the text before the first _ is not a version"),
        Case(
            files: ["1_a.sql": "SELECT 1;", "01_b.sql": "SELECT 2;"], setting: "sqlx",
            expected: "invalid: version 1 is also used by"),
        Case(files: ["1_a.sql": sqlMigrateFile], expected: "sql-migrate"),
        Case(files: ["V1__init.sql": "CREATE TABLE a (id INTEGER);"], expected: "flyway"),
        Case(files: ["migration_lock.toml": "provider = \"sqlite\"\n"], expected: "prisma"),
        Case(files: ["meta/_journal.json": "{\"entries\":[]}"], expected: "drizzle"),
        Case(
            files: ["1_a.sql": dbmateFile, "2_b.sql": sqlMigrateFile],
            expected: "invalid: the folder fits dbmate and sql-migrate; set MIGRATIONS_FORMAT"),
        Case(
            files: ["1_a.sql": dbmateFile, "2_b.sql": sqlMigrateFile], setting: "sql-migrate",
            expected:
                "invalid: 1_a.sql:1: \"-- migrate:up\" is dbmate's marker, but the folder is read as sql-migrate's"),
        Case(
            files: ["1_a.sql": "CREATE TABLE a (id INTEGER);"], setting: "Golang-Migrate ",
            expected: "invalid: 1_a.sql: the name must be <version>_<title>.up.sql or .down.sql"),
        Case(
            files: ["1_a.sql": dbmateFile], setting: "liquibase",
            expected: "invalid: MIGRATIONS_FORMAT \"liquibase\" is none of dbmate, golang-migrate"),
        Case(
            files: ["1_a.down.sql": "DROP TABLE a;"], setting: "golang-migrate",
            expected: "invalid: a down file without an up file of version 1"),
        Case(
            files: ["meta/_journal.json": "{\"entries\":[{\"idx\":0,\"when\":1,\"tag\":\"0000_x\"}]}"],
            expected: "invalid: 0000_x.sql is listed but missing"),
        Case(files: ["meta/_journal.json": "[]"], expected: "invalid: meta/_journal.json: not a Drizzle journal"),
        Case(
            files: ["migration_lock.toml": "", "20240101_init/notes.txt": ""],
            expected: "invalid: 20240101_init: a migration folder without migration.sql"),
        Case(
            files: ["V1__a.sql": "SELECT 1;", "V1.0__b.sql": "SELECT 2;"],
            expected: "invalid: V1__a.sql: version 1 is also used by V1.0__b.sql"),
        Case(
            files: ["1_a.up.sql": "SELECT 1;", "01_b.up.sql": "SELECT 2;"], setting: "golang-migrate",
            expected: "invalid: version 1 is also used by"),
        Case(files: ["init.sql": sqlMigrateFile], expected: "invalid: init.sql: the name must start with a number"),
        Case(
            files: ["1_a.sql": "-- +migrate Up\n-- +migrate StatementBegin\nSELECT 1;\n"],
            expected: "invalid: 1_a.sql:2: -- +migrate StatementBegin is not closed"),
    ]

    @Test(
        "the format is recognised from the folder, or named by MIGRATIONS_FORMAT; a folder that fits two is invalid",
        arguments: cases)
    func recognises(_ item: Case) throws {
        let folder = try MigrationsDir()
        for (name, text) in item.files {
            let url = folder.dir.url.appendingPathComponent(name)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try folder.write(name, text)
        }
        let catalog = MigrationCatalog.load(folder: folder.path, format: item.setting, dialect: .sqlite)
        if let invalid = catalog.invalid {
            #expect(item.expected.hasPrefix("invalid: "))
            #expect("\(invalid)".contains(item.expected.dropFirst("invalid: ".count)), "\(invalid)")
            #expect(catalog.migrations.isEmpty)
        } else if !catalog.candidates.isEmpty {
            #expect("shared: " + catalog.candidates.map(\.rawValue).joined(separator: ", ") == item.expected)
            #expect(catalog.migrations.isEmpty && catalog.format == nil)
        } else {
            #expect(catalog.format?.rawValue ?? "none" == item.expected)
        }
    }

    @Test(
        "Prisma applies its folders in the order of their names as text: a 12-digit timestamp after a 14-digit one that sorts first"
    )
    func prismaOrdersByName() throws {
        let folder = try MigrationsDir(["migration_lock.toml": "provider = \"sqlite\"\n"])
        for name in ["202310122339_x", "20230912150657_y", "20231001000000_z"] {
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(name), withIntermediateDirectories: true)
            try folder.write("\(name)/migration.sql", "CREATE TABLE t_\(name.suffix(1)) (id INTEGER);\n")
        }
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: .sqlite)
        #expect(catalog.format == .prisma)
        // As text: "2023 09…" < "2023 10 01…" < "2023 10 12…"; as numbers the 12-digit one would come first.
        #expect(catalog.migrations.map(\.id) == ["20230912150657_y", "20231001000000_z", "202310122339_x"])
    }

    @Test(
        "golang-migrate: a file that is one BEGIN … COMMIT block runs in the server's transaction without them; control elsewhere runs as written, outside one"
    )
    func golangTransactions() throws {
        let folder = try MigrationsDir([
            "1_wrapped.up.sql": "BEGIN;\nCREATE TABLE a (id INTEGER);\nCREATE TABLE b (id INTEGER);\nCOMMIT;\n",
            "1_wrapped.down.sql": "-- undo\nDROP TABLE b;\nDROP TABLE a;\n",
            "2_plain.up.sql": "CREATE TABLE c (id INTEGER);\n",
            "3_own.up.sql": "CREATE TABLE d (id INTEGER);\nBEGIN TRANSACTION;\nINSERT INTO d VALUES (1);\nEND;\n",
            "0004_rollback_to.up.sql": "BEGIN;\nSAVEPOINT s;\nROLLBACK TO s;\nCOMMIT;\n",
        ])
        let catalog = MigrationCatalog.load(folder: folder.path, format: "golang-migrate", dialect: .postgres)
        #expect(catalog.format == .golangMigrate)
        let byID = Dictionary(uniqueKeysWithValues: catalog.migrations.map { ($0.id, $0) })
        #expect(catalog.migrations.map(\.id) == ["1_wrapped", "2_plain", "3_own", "0004_rollback_to"])
        #expect(byID["1_wrapped"]?.statements == ["CREATE TABLE a (id INTEGER)", "CREATE TABLE b (id INTEGER)"])
        #expect(byID["1_wrapped"]?.transactional == true)
        #expect(byID["1_wrapped"]?.down == ["DROP TABLE b", "DROP TABLE a"])
        #expect(byID["2_plain"]?.down == nil)
        #expect(byID["2_plain"]?.transactional == true)
        #expect(byID["3_own"]?.transactional == false)
        #expect(byID["3_own"]?.statements.count == 4)
        #expect(byID["0004_rollback_to"]?.statements == ["SAVEPOINT s", "ROLLBACK TO s"])
        #expect(byID["0004_rollback_to"]?.toolKey == "4")
        #expect(byID["1_wrapped"]?.toolKey == "1")
    }

    @Test(
        "sql-migrate: a StatementBegin block is split as the engine splits it (a function body stays whole); notransaction; text before the first section is not run"
    )
    func sqlMigrateSections() throws {
        let function = "CREATE FUNCTION f() RETURNS integer AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;"
        let folder = try MigrationsDir([
            "20260101-first.sql":
                "-- a header sql-migrate ignores\nSELECT 'not run';\n-- +migrate Up\nCREATE TABLE a (id INTEGER);\n-- +migrate StatementBegin\n\(function)\n-- +migrate StatementEnd\nINSERT INTO a VALUES (1);\n\n-- +migrate Down\nDROP FUNCTION f();\nDROP TABLE a;\n",
            "20260102-second.sql": "-- +migrate Up notransaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        ])
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: .postgres)
        #expect(catalog.format == .sqlMigrate)
        let first = try #require(catalog.migrations.first)
        #expect(first.id == "20260101-first")
        #expect(first.toolKey == "20260101-first.sql")
        #expect(
            first.statements == [
                "CREATE TABLE a (id INTEGER)", String(function.dropLast()), "INSERT INTO a VALUES (1)",
            ])
        #expect(first.down == ["DROP FUNCTION f()", "DROP TABLE a"])
        #expect(first.transactional)
        let second = try #require(catalog.migrations.last)
        #expect(!second.transactional)
        #expect(second.down == nil)
    }

    @Test(
        "app migrate new writes a migration in the folder's format",
        arguments: [
            ("dbmate", ["T_x.sql"]), ("golang-migrate", ["T_x.down.sql", "T_x.up.sql"]), ("sql-migrate", ["T-x.sql"]),
            ("goose", ["T_x.sql"]),
            ("prisma", ["T_x/migration.sql"]), ("flyway", ["VT__x.sql"]),
        ])
    func newFiles(_ format: String, _ names: [String]) throws {
        let files = try #require(MigrationFormat(setting: format)?.newFiles(stamp: "T", slug: "x"))
        #expect(files.map(\.name).sorted() == names)
        // What `new` writes is itself a valid, empty migration of that format.
        let folder = try MigrationsDir()
        for file in files {
            let name = file.name.replacingOccurrences(of: "T", with: "1")
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(name).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try folder.write(name, file.text)
        }
        let catalog = MigrationCatalog.load(folder: folder.path, format: format, dialect: .sqlite)
        #expect(catalog.invalid == nil)
        #expect(catalog.format?.rawValue == format)
        #expect(catalog.migrations.count == 1)
        #expect(MigrationFormat.drizzle.newFiles(stamp: "T", slug: "x") == nil)
    }
}
