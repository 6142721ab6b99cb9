import Foundation
import Testing

@testable import AppCore

/// The example folders in `Fixtures/formats`, laid out as each tool writes them.
enum ToolFixture: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case prisma, flyway, drizzle
    case golangMigrate = "golang-migrate"
    case goose, sqlx, diesel, atlas

    var testDescription: String { rawValue }
    var path: String { ConfigTests.repoFile("Tests/AppTests/Fixtures/formats/\(rawValue)") }
    var folder: MigrationsDir { get throws { try MigrationsDir(copying: path) } }

    /// The files each migration is, in the order the tool applies them.
    var files: [String] {
        switch self {
        case .prisma:
            [
                "20240101120000_init/migration.sql", "20240102120000_add_post/migration.sql",
                "20240103120000_seed/migration.sql",
            ]
        case .flyway:
            ["V1__Create_person_table.sql", "V1_1__Populate_table.sql", "V1_10__Add_index.sql", "V2__Add_people.sql"]
        case .drizzle: ["0000_steady_wolverine.sql", "0001_brief_ironclad.sql"]
        case .golangMigrate: ["1_create_users_table.up.sql", "2_add_mood_to_users.up.sql", "3_index_mood.up.sql"]
        // By the version's number: 9 before 10, though "00010_…" sorts first as text.
        // By the version as text, as Diesel compares them: 20230301 after 20230217084617.
        case .diesel:
            [
                "2023-02-08-193717_create_books/up.sql", "2023-02-08-193718_create_pages/up.sql",
                "2023-02-17-084424_add_authors/up.sql", "2023-02-17-084617_add_books_authors/up.sql",
                "2023-02-17-084618_index_pages/up.sql", "20230301_add_isbn/up.sql",
            ]
        case .atlas: ["20240112070806.sql", "20240113000000_add_t2.sql", "20240114000000_index.sql"]
        case .sqlx:
            [
                "20220721115250_add_test_table.sql", "20220721115524_convert_type.sql",
                "20220721124650_add_table.up.sql", "20220721125033_modify_column.up.sql",
            ]
        case .goose:
            [
                "00001_table.sql", "00002_insert.sql", "00003_alter.sql", "00004_empty.sql", "00005_no_tx.sql",
                "9_owner_names.sql", "00010_user_names.sql",
            ]
        }
    }

    /// `MIGRATIONS_FORMAT` for a folder in a layout other tools share (its tool is told apart by the
    /// history the database holds, or by this setting).
    var setting: String? { self == .golangMigrate || self == .sqlx ? rawValue : nil }

    /// What the tool runs of the file `index`, as an SQL script: the text before goose's Down line
    /// (its annotations are comments to the engine), Drizzle's file without its breakpoints, else the
    /// whole file.
    func upScript(_ index: Int) throws -> String {
        let text = try String(contentsOfFile: "\(path)/\(files[index])", encoding: .utf8)
        switch self {
        case .goose:
            let lines = text.components(separatedBy: "\n")
            return lines.prefix(while: { !$0.lowercased().hasPrefix("-- +goose down") }).joined(separator: "\n")
        case .drizzle: return text.replacingOccurrences(of: "--> statement-breakpoint", with: "")
        default: return text
        }
    }

    /// Each migration's up script in a file of its own, in order, for the engine's own client.
    func upScriptFiles(in dir: MigrationsDir) throws -> [String] {
        try files.indices.map { index in
            let path = "\(dir.path)/\(index).sql"
            try upScript(index).write(toFile: path, atomically: false, encoding: .utf8)
            return path
        }
    }

    var ids: [String] {
        files.map { file in
            for suffix in ["/migration.sql", "/up.sql", ".up.sql", ".sql"] where file.hasSuffix(suffix) {
                return String(file.dropLast(suffix.count))
            }
            return file
        }
    }

    /// The checksums `scripts/checkers/tool_checksums.py` computes from the tool's own rules.
    func pythonChecksums() async throws -> [String: String] {
        let out = try await runProcess([
            "python3", ConfigTests.repoFile("scripts/checkers/tool_checksums.py"), rawValue, path,
        ])
        try #require(out.status == 0, "\(out.stderr)")
        return try JSONDecoder().decode([String: String].self, from: out.stdout)
    }
}

extension MigrationsDir {
    /// A copy of `source` (sub-folders included), so a test may change it.
    convenience init(copying source: String) throws {
        try self.init([:])
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(path)/\(name)")
        }
    }
}

@Suite(
    "Prisma, Flyway, Drizzle, golang-migrate, goose, sqlx, Diesel and Atlas folders, checked against their tools' rules",
    .dropsTestDatabases
)
struct ToolFixtureTests {
    @Test(
        "each example folder is recognised, read in the tool's order, with the tool's checksums as Python computes them",
        arguments: ToolFixture.allCases)
    func readsFixture(_ fixture: ToolFixture) async throws {
        let catalog = MigrationCatalog.load(folder: fixture.path, format: fixture.setting, dialect: .postgres)
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.format?.rawValue == fixture.rawValue)
        #expect(catalog.migrations.map(\.id) == fixture.ids)
        let expected = try await fixture.pythonChecksums()
        #expect(
            Dictionary(uniqueKeysWithValues: catalog.migrations.map { ($0.id, $0.toolChecksums.first ?? "") })
                == expected)
    }

    @Test(
        "Flyway: versions compare as numbers part by part (1 < 1.1 < 1.10 < 2), `_` is `.`, a BOM and CRLF do not change the checksum"
    )
    func flywayVersions() throws {
        #expect(
            FlywayFormat.parseName("V1_10__Add_index.sql")
                == .init(version: "1.10", parts: ["1", "10"], description: "Add index"))
        #expect(FlywayFormat.parseName("V2.0.0__x.sql")?.parts == ["2"])
        #expect(FlywayFormat.parseName("V007__x.sql")?.version == "007")
        #expect(FlywayFormat.parseName("V1__") == nil)
        #expect(FlywayFormat.parseName("Vx__a.sql") == nil)
        #expect(FlywayFormat.checksum("a\nb\n") == FlywayFormat.checksum("\u{FEFF}a\r\nb\r\n"))
        #expect(FlywayFormat.checksum("a\nb") != FlywayFormat.checksum("a\nc"))
        let folder = try MigrationsDir(["R__views.sql": "SELECT 1;"])
        #expect(
            MigrationCatalog.load(folder: folder.path, format: "flyway", dialect: .sqlite).invalid?.reason.contains(
                "repeatable") == true)
        let placeholders = try MigrationsDir(["V1__a.sql": "CREATE TABLE ${table} (id INTEGER);"])
        #expect(MigrationCatalog.load(folder: placeholders.path, dialect: .sqlite).invalid?.line == 1)
    }

    @Test(
        "Prisma: a file checked out with CRLF matches a checksum recorded over LF, and an early unpadded checksum matches"
    )
    func prismaChecksums() throws {
        let lf = Data("CREATE TABLE a (id INTEGER);\nCREATE TABLE b (id INTEGER);\n".utf8)
        let crlf = Data("CREATE TABLE a (id INTEGER);\r\nCREATE TABLE b (id INTEGER);\r\n".utf8)
        #expect(PrismaFormat.checksums(crlf).contains(PrismaFormat.checksums(lf)[0]))
        #expect(PrismaFormat.checksums(lf).contains(PrismaFormat.checksums(crlf)[0]))
        let migration = Migration(
            id: "1_a", statements: [], down: nil, transactional: true, downTransactional: true, checksum: "",
            toolChecksums: ["0a0b" + String(repeating: "c", count: 60)])
        #expect(PrismaHistory.matches("ab" + String(repeating: "c", count: 60), migration))
        #expect(!PrismaHistory.matches(String(repeating: "d", count: 64), migration))
    }

    @Test(
        "the rows each tool's history gets are the tool's own: names, versions, checksums, ranks",
        arguments: Engine.available, ToolFixture.allCases)
    func historyRows(_ engine: Engine, _ fixture: ToolFixture) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try fixture.folder
        try await withFolderMigrator(db, folder, engine, format: fixture.setting) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == fixture.ids)
        }
        let checksums = try await fixture.pythonChecksums()
        switch fixture {
        case .prisma:
            #expect(
                try await texts(db, "SELECT migration_name AS v FROM _prisma_migrations ORDER BY migration_name")
                    == fixture.ids)
            #expect(
                try await texts(db, "SELECT checksum AS v FROM _prisma_migrations ORDER BY migration_name")
                    == fixture.ids.map { checksums[$0]! })
            #expect(
                try await count(
                    db,
                    "SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL AND applied_steps_count = 1 AND LENGTH(id) = 36"
                ) == 3)
        case .flyway:
            #expect(
                try await texts(
                    db,
                    "SELECT version || ' ' || description || ' ' || type || ' ' || script AS v FROM flyway_schema_history ORDER BY installed_rank"
                ) == [
                    "1 Create person table SQL V1__Create_person_table.sql",
                    "1.1 Populate table SQL V1_1__Populate_table.sql",
                    "1.10 Add index SQL V1_10__Add_index.sql", "2 Add people SQL V2__Add_people.sql",
                ])
            #expect(
                try await texts(
                    db, "SELECT CAST(checksum AS TEXT) AS v FROM flyway_schema_history ORDER BY installed_rank")
                    == fixture.ids.map { checksums[$0]! })
            #expect(
                try await texts(
                    db,
                    "SELECT CAST(installed_rank AS TEXT) AS v FROM flyway_schema_history WHERE success ORDER BY installed_rank"
                ) == ["1", "2", "3", "4"])
        case .drizzle:
            let table = engine == .postgres ? "drizzle.__drizzle_migrations" : "__drizzle_migrations"
            #expect(
                try await texts(db, "SELECT hash AS v FROM \(table) ORDER BY created_at")
                    == fixture.ids.map { checksums[$0]! })
            #expect(
                try await texts(db, "SELECT CAST(created_at AS TEXT) AS v FROM \(table) ORDER BY created_at") == [
                    "1735689600000", "1735776000000",
                ])
        case .golangMigrate:
            #expect(
                try await texts(
                    db,
                    "SELECT CAST(version AS TEXT) || ':' || CAST(CASE WHEN dirty THEN 1 ELSE 0 END AS TEXT) AS v FROM schema_migrations"
                ) == ["3:0"])
        case .atlas:
            let table = engine == .postgres ? "atlas_schema_revisions.atlas_schema_revisions" : "atlas_schema_revisions"
            #expect(
                try await texts(
                    db,
                    "SELECT version || ' ' || description || ' ' || CAST(type AS TEXT) || ' ' || CAST(applied AS TEXT) || '/' || CAST(total AS TEXT) || ' ' || hash AS v FROM \(table) ORDER BY version"
                ) == [
                    "20240112070806  2 1/1 \(checksums["20240112070806"]!)",
                    "20240113000000 add_t2 2 2/2 \(checksums["20240113000000_add_t2"]!)",
                    "20240114000000 index 2 1/1 \(checksums["20240114000000_index"]!)",
                ])
            #expect(
                try await count(
                    db,
                    "SELECT COUNT(*) AS n FROM \(table) WHERE error = '' AND error_stmt = '' AND execution_time >= 0 AND operator_version <> ''"
                ) == 3)
        case .diesel:
            #expect(
                try await texts(db, "SELECT version AS v FROM __diesel_schema_migrations ORDER BY version") == [
                    "20230208193717", "20230208193718", "20230217084424", "20230217084617", "20230217084618",
                    "20230301",
                ])
            #expect(
                try await count(db, "SELECT COUNT(*) AS n FROM __diesel_schema_migrations WHERE run_on IS NOT NULL")
                    == 6)
        case .sqlx:
            let hex = engine == .postgres ? "encode(checksum, 'hex')" : "lower(hex(checksum))"
            #expect(
                try await texts(
                    db, "SELECT CAST(version AS TEXT) || ' ' || description AS v FROM _sqlx_migrations ORDER BY version"
                )
                    == [
                        "20220721115250 add test table", "20220721115524 convert type", "20220721124650 add table",
                        "20220721125033 modify column",
                    ])
            #expect(
                try await texts(db, "SELECT \(hex) AS v FROM _sqlx_migrations ORDER BY version")
                    == fixture.ids.map { checksums[$0]! })
            #expect(
                try await count(
                    db,
                    "SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success AND execution_time >= 0 AND installed_on IS NOT NULL"
                ) == 4)
        case .goose:
            #expect(
                try await texts(
                    db,
                    "SELECT CAST(version_id AS TEXT) || ':' || CAST(CASE WHEN is_applied THEN 1 ELSE 0 END AS TEXT) AS v FROM goose_db_version ORDER BY id"
                ) == ["0:1", "1:1", "2:1", "3:1", "4:1", "5:1", "9:1", "10:1"])
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM goose_db_version WHERE tstamp IS NULL") == 0)
        }
    }

    /// The rows the tool writes once its first `count` migrations are applied, as it writes them.
    static func toolRows(
        _ fixture: ToolFixture, count: Int, engine: Engine, checksums: [String: String]
    ) -> [String] {
        let yes = engine == .postgres ? "true" : "1"
        let applied = Array(fixture.ids.prefix(count))
        let files = Array(fixture.files.prefix(count))
        switch fixture {
        case .prisma:
            return applied.enumerated().map { index, id in
                "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ('4f2c0000-0000-4000-8000-00000000000\(index)', '\(checksums[id]!)', CURRENT_TIMESTAMP, '\(id)', CURRENT_TIMESTAMP, 1)"
            }
        case .flyway:
            return applied.enumerated().map { index, id in
                // V1_1__Populate_table: version 1.1, description "Populate table".
                let parts = id.dropFirst().components(separatedBy: "__")
                let version = parts[0].replacingOccurrences(of: "_", with: ".")
                let description = parts[1].replacingOccurrences(of: "_", with: " ")
                return
                    "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES (\(index + 1), '\(version)', '\(description)', 'SQL', '\(id).sql', \(checksums[id]!), 'flyway', 5, \(yes))"
            }
        case .drizzle:
            let when = ["0000_steady_wolverine": 1_735_689_600_000, "0001_brief_ironclad": 1_735_776_000_000]
            return applied.map { id in
                "INSERT INTO \(engine == .postgres ? "drizzle." : "")__drizzle_migrations (hash, created_at) VALUES ('\(checksums[id]!)', \(when[id]!))"
            }
        case .golangMigrate:
            // One row: the latest version.
            guard let last = applied.last, let version = last.split(separator: "_").first else { return [] }
            return [
                "INSERT INTO schema_migrations (version, dirty) VALUES (\(version), \(engine == .postgres ? "false" : "0"))"
            ]
        case .atlas:
            return applied.map { id in
                let version = id.split(separator: "_").first.map(String.init) ?? id
                let description = id.contains("_") ? String(id[id.index(after: id.firstIndex(of: "_")!)...]) : ""
                return
                    "INSERT INTO \(engine == .postgres ? "atlas_schema_revisions." : "")atlas_schema_revisions (version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version) VALUES ('\(version)', '\(description)', 2, 1, 1, CURRENT_TIMESTAMP, 1200, '', '', '\(checksums[id]!)', 'null', 'Atlas CLI v0.30.0')"
            }
        case .diesel:
            return applied.map { id in
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('\(id.prefix(while: { $0 != "_" }).replacingOccurrences(of: "-", with: ""))')"
            }
        case .sqlx:
            return applied.map { id in
                let version = id.prefix(while: { $0 != "_" })
                let description = id.dropFirst(version.count + 1).replacingOccurrences(of: "_", with: " ")
                let checksum = checksums[id]!
                return
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (\(version), '\(description)', \(engine == .postgres ? "TRUE, decode('\(checksum)', 'hex')" : "1, X'\(checksum)'"), 1204000)"
            }
        case .goose:
            // The table as goose makes it holds the row for version 0 already.
            return files.map { file in
                "INSERT INTO goose_db_version (version_id, is_applied) VALUES (\(Int(file.prefix(while: { $0 != "_" }))!), \(yes))"
            }
        }
    }

    /// `db` as the tool leaves it after its first `count` migrations: their SQL run by the engine's own
    /// client, the tool's table made by the server's own DDL, the tool's rows written by hand.
    static func migratedByTool(_ fixture: ToolFixture, count: Int, engine: Engine) async throws -> TestDatabase {
        let db = try await TestDatabase.make(engine)
        let scripts = try MigrationsDir()
        try await runWhole(Array(try fixture.upScriptFiles(in: scripts).prefix(count)), on: db)
        let history = try #require(MigrationFormat(rawValue: fixture.rawValue)?.history)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in try await history.create(sql, engine: engine.dialect) }
        }
        let checksums = try await fixture.pythonChecksums()
        for row in toolRows(fixture, count: count, engine: engine, checksums: checksums) {
            try await TestSQL.run(db, row)
        }
        return db
    }

    @Test(
        "each tool's history adopted: what it records as applied is not run again", arguments: Engine.available,
        ToolFixture.allCases)
    func adoption(_ engine: Engine, _ fixture: ToolFixture) async throws {
        let db = try await Self.migratedByTool(fixture, count: 1, engine: engine)
        try await withFolderMigrator(db, try fixture.folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == Array(fixture.ids.dropFirst()))
            #expect(try await migrator.migrate() == Array(fixture.ids.dropFirst()))
            #expect(try await migrator.status().applied.first(where: { $0.id == fixture.ids[0] })?.state == .adopted)
        }
    }

    @Test(
        "proof for each tool: its whole folder on a database it migrated, with rows in the tables: nothing runs, everything is adopted, every table keeps its rows",
        arguments: Engine.available, ToolFixture.allCases)
    func wholeAdoption(_ engine: Engine, _ fixture: ToolFixture) async throws {
        let db = try await Self.migratedByTool(fixture, count: fixture.ids.count, engine: engine)
        let before = try await rowCounts(db)
        #expect(before.values.reduce(0, +) > 0, "the tables hold rows")
        try await withFolderMigrator(db, try fixture.folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [])
            #expect(try await migrator.migrate() == [])
            let applied = try await migrator.status().applied
            #expect(Set(applied.map(\.id)) == Set(fixture.ids))
            #expect(applied.allSatisfy { $0.state == .adopted })
        }
        #expect(try await rowCounts(db) == before)
    }

    @Test(
        "Prisma: a failed row is 409 interrupted, an edited checksum is drift, a row marked rolled back is pending again",
        arguments: Engine.available)
    func prismaStates(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try ToolFixture.prisma.folder
        let ids = ToolFixture.prisma.ids
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            _ = try await migrator.migrate()
            try await TestSQL.run(
                db,
                "UPDATE _prisma_migrations SET checksum = '\(String(repeating: "0", count: 64))' WHERE migration_name = '\(ids[1])'"
            )
            await #expect(throws: MigrationError.drift(migration: ids[1])) { try await migrator.pending() }
            try await TestSQL.run(
                db,
                "UPDATE _prisma_migrations SET checksum = '\(PrismaFormat.checksums(Data(("x").utf8))[0])', finished_at = NULL WHERE migration_name = '\(ids[2])'"
            )
            #expect(try await migrator.status().interrupted == [ids[2]])
            // `prisma migrate resolve --rolled-back`: the seed is pending again (its row gone from ours).
            try await TestSQL.run(
                db,
                "UPDATE _prisma_migrations SET rolled_back_at = CURRENT_TIMESTAMP WHERE migration_name = '\(ids[2])'")
            try await TestSQL.run(
                db,
                "UPDATE _prisma_migrations SET checksum = '\(try await ToolFixture.prisma.pythonChecksums()[ids[1]]!)' WHERE migration_name = '\(ids[1])'"
            )
            try await TestSQL.run(db, "DELETE FROM \"User\"")
            #expect(try await migrator.status().pending == [ids[2]])
            #expect(try await migrator.migrate() == [ids[2]])
        }
        #expect(
            try await count(
                db,
                "SELECT COUNT(*) AS n FROM _prisma_migrations WHERE migration_name = '\(ids[2])' AND finished_at IS NOT NULL AND rolled_back_at IS NULL"
            ) == 1)
    }

    @Test(
        "Flyway: a baseline counts every version up to it as applied; a failed row is 409 interrupted",
        arguments: Engine.available)
    func flywayStates(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try ToolFixture.flyway.folder
        let ids = ToolFixture.flyway.ids
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in try await FlywayHistory().create(sql, engine: engine.dialect) }
        }
        try await TestSQL.runScript(
            db,
            "create table PERSON (ID int not null, NAME varchar(100) not null); create index PERSON_NAME on PERSON (NAME);"
        )
        let yes = engine == .postgres ? "true" : "1"
        let no = engine == .postgres ? "false" : "0"
        try await TestSQL.run(
            db,
            "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES (1, '1.10', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'flyway', 0, \(yes))"
        )
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[3]])
            try await TestSQL.run(
                db,
                "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES (2, '2', 'Add people', 'SQL', 'V2__Add_people.sql', 1, 'flyway', 0, \(no))"
            )
            await #expect(throws: MigrationError.interrupted(migration: ids[3])) { try await migrator.migrate() }
            try await migrator.resolve(ids[3], applied: false)  // `flyway repair`
            #expect(try await migrator.migrate() == [ids[3]])
        }
        #expect(
            try await texts(db, "SELECT version AS v FROM flyway_schema_history ORDER BY installed_rank") == [
                "1.10", "2",
            ])
    }

    @Test("Flyway on SQLite: a checksum out of an INT's range is drift, not the end of the process")
    func flywayChecksumOutOfRange() async throws {
        let db = try await TestDatabase.make(.sqlite)
        let ids = ToolFixture.flyway.ids
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in try await FlywayHistory().create(sql, engine: .sqlite) }
        }
        try await TestSQL.run(
            db,
            "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES (1, '1', 'Create person table', 'SQL', 'V1__Create_person_table.sql', 4294967296, 'flyway', 0, 1)"
        )
        try await withFolderMigrator(db, try ToolFixture.flyway.folder, .sqlite) { (migrator: Migrator) async throws in
            await #expect(throws: MigrationError.drift(migration: ids[0])) { try await migrator.migrate() }
        }
    }

    @Test(
        "the files run whole by the engine's own client, as each tool runs them, leave the server's schema",
        arguments: Engine.available, ToolFixture.allCases)
    func sameSchema(_ engine: Engine, _ fixture: ToolFixture) async throws {
        let byFiles = try await TestDatabase.make(engine)
        let scripts = try MigrationsDir()
        try await runWhole(try fixture.upScriptFiles(in: scripts), on: byFiles)
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, try fixture.folder, engine, format: fixture.setting) {
            (migrator: Migrator) async throws in
            _ = try await migrator.migrate()
        }
        let expected = try await schema(byFiles)
        #expect(!expected.isEmpty)
        #expect(try await schema(byServer) == expected)
    }
}

/// Runs each file whole, in order, by the engine's own client: Python's sqlite3 (SQLite itself) or psql.
func runWhole(_ files: [String], on db: TestDatabase) async throws {
    if let path = db.sqlitePath {
        let script =
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nfor f in sys.argv[2:]: c.executescript(open(f, encoding='utf-8-sig').read())\n"
        let out = try await runProcess(["python3", "-c", script, path] + files)
        try #require(out.status == 0, "\(out.stderr)")
    } else {
        for file in files {
            let out = try await runProcess(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", file, db.url])
            try #require(out.status == 0, "\(out.stderr)")
        }
    }
}

extension TestSQL {
    /// Runs a script of several statements, split as the server splits them.
    static func runScript(_ db: TestDatabase, _ script: String) async throws {
        for statement in try SQLSplitter.split(script, dialect: db.sqlitePath == nil ? .postgres : .sqlite) {
            try await run(db, statement.text)
        }
    }
}
