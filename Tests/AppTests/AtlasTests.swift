import Foundation
import Testing

@testable import AppCore

/// Atlas's folders and `atlas.sum` as ariga/atlas's `sql/migrate` reads and checks them.
@Suite("Atlas: atlas.sum, its files and its revisions", .dropsTestDatabases)
struct AtlasTests {
    static let sums = ConfigTests.repoFile("Tests/AppTests/Fixtures/atlas-sum")

    @Test(
        "atlas.sum files Atlas itself wrote (its own test data) are the sums computed here, and their folders are read",
        arguments: ["baseline1", "sqlite", "sqlitetx2", "versioned-basic"])
    func atlasOwnSums(_ name: String) throws {
        let path = "\(Self.sums)/\(name)"
        let folder = try MigrationFolder.Listing(path)
        let computed = try AtlasFormat.sum(folder, folder.sqlFiles)
        #expect(computed.text == (try String(contentsOfFile: "\(path)/atlas.sum", encoding: .utf8)))
        let catalog = MigrationCatalog.load(folder: path, dialect: .sqlite)
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.format == .atlas)
    }

    @Test("a file added, edited or removed since atlas.sum was written is refused, named, as Atlas refuses it")
    func sumMismatch() throws {
        let folder = try MigrationsDir(copying: "\(Self.sums)/sqlitetx2")
        func reason() -> String {
            MigrationCatalog.load(folder: folder.path, dialect: .sqlite).invalid?.description ?? "valid"
        }
        #expect(reason() == "valid")
        try folder.write("20220925094021_second.sql", "SELECT 1;\n")
        #expect(reason().hasPrefix("20220925094021_second.sql: edited since atlas.sum was written"), "\(reason())")
        try folder.remove("20220925094021_second.sql")
        #expect(reason().hasPrefix("20220925094021_second.sql: removed since"), "\(reason())")

        let added = try MigrationsDir(copying: "\(Self.sums)/sqlitetx2")
        try added.write("20220925093000_between.sql", "SELECT 1;\n")
        #expect(
            MigrationCatalog.load(folder: added.path, dialect: .sqlite).invalid?.description.hasPrefix(
                "20220925093000_between.sql: added since") == true)
        try added.remove("20220925093000_between.sql")
        try added.write("20991231000000_last.sql", "SELECT 1;\n")
        #expect(
            MigrationCatalog.load(folder: added.path, dialect: .sqlite).invalid?.description.hasPrefix(
                "20991231000000_last.sql: added since") == true)

        let broken = try MigrationsDir(copying: "\(Self.sums)/sqlite")
        try broken.write("atlas.sum", "h1:AAAA\n20220318104614_initial.sql h1:x\n")
        #expect(MigrationCatalog.load(folder: broken.path, dialect: .sqlite).invalid?.file == "atlas.sum")
    }

    @Test(
        "name order; directives: txmode none runs outside a transaction; an unknown txmode, delimiter or checkpoint is refused; sum ignore leaves a file out of the sum"
    )
    func directives() throws {
        func folder(_ files: [String: String]) throws -> MigrationCatalog {
            let dir = try MigrationsDir(files)
            try dir.write("atlas.sum", try AtlasFormat.sum(MigrationFolder.Listing(dir.path), files.keys.sorted()).text)
            return MigrationCatalog.load(folder: dir.path, dialect: .sqlite)
        }
        let none = try folder([
            "1_a.sql": "-- atlas:txmode none\n\nCREATE TABLE a (id int);\n", "2_b.sql": "SELECT 1;\n",
        ])
        #expect(none.migrations.map(\.transactional) == [false, true])
        // Atlas lists a folder's files in name order, and applies them so: 10_b before 9_a.
        #expect(
            try folder(["9_a.sql": "SELECT 1;\n", "10_b.sql": "SELECT 1;\n"]).migrations.map(\.id) == ["10_b", "9_a"])
        for (text, expected) in [
            ("-- atlas:txmode all\nSELECT 1;\n", "unknown txmode \"all\""),
            ("-- atlas:delimiter \\n\\n\nSELECT 1;\n", "atlas:delimiter directive is not supported"),
            ("-- atlas:checkpoint\nSELECT 1;\n", "atlas:checkpoint directive is not supported"),
        ] {
            #expect(try folder(["1_a.sql": text]).invalid?.reason.contains(expected) == true, "\(text)")
        }
        #expect(AtlasSum.ignored(Data("-- atlas:sum ignore\nSELECT 1;".utf8)))
        #expect(!AtlasSum.ignored(Data("SELECT 1;\n-- atlas:sum ignore".utf8)))
        let ignored = AtlasSum(files: [("1.sql", Data("-- atlas:sum ignore\n".utf8)), ("2.sql", Data("x".utf8))])
        #expect(ignored.entries.map(\.name) == ["2.sql"])
    }

    @Test(
        "a baseline row counts every version up to it as applied; a row with fewer statements applied than its total is interrupted",
        arguments: Engine.available)
    func revisions(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try ToolFixture.atlas.folder
        let ids = ToolFixture.atlas.ids
        let table = engine == .postgres ? "atlas_schema_revisions.atlas_schema_revisions" : "atlas_schema_revisions"
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in try await AtlasHistory().create(sql, engine: engine.dialect) }
        }
        try await TestSQL.runScript(db, try ToolFixture.atlas.upScript(0) + ToolFixture.atlas.upScript(1))
        let columns =
            "(version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, operator_version)"
        try await TestSQL.run(
            db,
            "INSERT INTO \(table) \(columns) VALUES ('20240113000000', 'add_t2', 1, 0, 0, CURRENT_TIMESTAMP, 0, NULL, NULL, '', 'Atlas CLI v0.30.0')"
        )
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[2]])
            try await TestSQL.run(
                db,
                "INSERT INTO \(table) \(columns) VALUES ('20240114000000', 'index', 2, 0, 1, CURRENT_TIMESTAMP, 0, 'boom', 'CREATE INDEX', '', 'Atlas CLI v0.30.0')"
            )
            await #expect(throws: MigrationError.interrupted(migration: ids[2])) { try await migrator.migrate() }
            try await migrator.resolve(ids[2], applied: false)
            #expect(try await migrator.migrate() == [ids[2]])
        }
        #expect(
            try await count(db, "SELECT COUNT(*) AS n FROM \(table) WHERE applied = total AND COALESCE(error, '') = ''")
                == 2)
    }

    @Test("app migrate new in an Atlas folder writes atlas.sum anew, and the folder stays valid")
    func newWritesSum() async throws {
        let folder = try MigrationsDir(copying: ToolFixture.atlas.path)
        let result = try await AppBinary.run(
            ["migrate", "new", "add_t3"], environment: ["APP_ENV": "test", "MIGRATIONS_DIR": folder.path],
            directory: folder.dir.url)
        #expect(result.status == 0, "\(result.err)")
        let sum = try String(contentsOfFile: "\(folder.path)/atlas.sum", encoding: .utf8)
        #expect(sum.contains("_add_t3.sql h1:"))
        let python = try await runProcess([
            "python3", ConfigTests.repoFile("scripts/checkers/tool_checksums.py"), "atlas", folder.path, "--sum-file",
        ])
        #expect(python.out == sum)
        #expect(MigrationCatalog.load(folder: folder.path, dialect: .sqlite).migrations.count == 4)
    }
}
