import Foundation
import Testing

@testable import AppCore

/// Supabase's folders as the Supabase CLI reads them (supabase/cli `pkg/migration`, `pkg/parser`).
@Suite("Supabase: its splitter, its folders and its history", .dropsTestDatabases)
struct SupabaseTests {
    static let splitData = ConfigTests.repoFile("Tests/AppTests/Fixtures/supabase-split")
    static let fixture = ConfigTests.repoFile("Tests/AppTests/Fixtures/formats/supabase")

    @Test(
        "the CLI's own test data: all.sql splits into its split_NN.sql pieces and a final newline, as in the CLI's TestSplit"
    )
    func splitterOracle() throws {
        let all = try String(contentsOfFile: "\(Self.splitData)/all.sql", encoding: .utf8)
        var pieces: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.splitData).sorted()
        where name.hasPrefix("split_") {
            pieces.append(try String(contentsOfFile: "\(Self.splitData)/\(name)", encoding: .utf8))
        }
        #expect(pieces.count == 18)
        #expect(SupabaseSplitter.split(all).sorted() == (pieces + ["\n"]).sorted())
    }

    @Test(
        "the CLI's state tests: each case's pieces joined split back into them",
        arguments: [
            ["END;", "-- comment"], ["SELECT --; 1"], ["- ;", "END"], ["-- /* \n;", " */ END"],
            ["SELECT /* ; */ 1;"], ["SELECT /*; /*;*/ ;*/ 1"], ["/ * ;", " */ END"], [";", "END;", ";"],
            ["BEGIN   ;", "  END"], ["\\;;", "\\;"], ["$tag$ any ; string$tag$"], ["$$\"Dane's horse\"$$"],
            ["SELECT \"$\";", " $$"], ["SELECT ';' 1"], ["SELECT ';'';' 1"], ["SELECT '\\';", " 1'"],
            ["CREATE POLICY \"cats;dogs\" on cats_dogs;", " END"], ["CREATE POLICY \"pet\"\"name\" on pets;", " END"],
            ["begin atomic; select 'end'; end"], ["SELECT 'é;';", " SELECT $é$;"],
        ])
    func splitterStates(_ pieces: [String]) {
        #expect(SupabaseSplitter.split(pieces.joined()) == pieces)
    }

    @Test("splitAndTrim drops the ;s and the white space around, and empty pieces")
    func trimming() {
        #expect(
            SupabaseSplitter.splitAndTrim("\tBEGIN; ;;\n SELECT 1 ;\n-- done\n") == ["BEGIN", "SELECT 1", "-- done"])
    }

    @Test(
        "recognised by supabase/migrations beside supabase/config.toml; other names and an old init skipped, in name order; PostgreSQL only"
    )
    func reading() throws {
        let catalog = MigrationCatalog.load(folder: "\(Self.fixture)/supabase/migrations", dialect: .postgres)
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.format == .supabase)
        #expect(catalog.migrations.map(\.id) == ["20240101000000_create_profiles", "20240102000000_add_avatar"])
        let first = try #require(catalog.migrations.first)
        #expect(first.toolStatements.count == 4)
        #expect(first.toolStatements.last == "-- a trailing comment is a statement of its own to the Supabase CLI")
        #expect(first.statements.count == 3, "the comment is not run")
        let sqlite = MigrationCatalog.load(folder: "\(Self.fixture)/supabase/migrations", dialect: .sqlite)
        #expect(sqlite.invalid?.reason.contains("PostgreSQL only") == true)

        let root = try MigrationsDir()
        try FileManager.default.createDirectory(
            at: root.dir.url.appendingPathComponent("supabase/migrations"), withIntermediateDirectories: true)
        try root.write("supabase/config.toml", "")
        for name in ["20201201000000_init.sql", "20211210000000_b.sql", "9_a.sql", "notes.sql"] {
            try root.write("supabase/migrations/\(name)", "select 1;\n")
        }
        let skipped = MigrationCatalog.load(folder: root.path + "/supabase/migrations", dialect: .postgres)
        #expect(skipped.format == .supabase)
        // In name order, as text: 9_a after the 2021 one. The old init schema, first, is skipped.
        #expect(skipped.migrations.map(\.id) == ["20211210000000_b", "9_a"])
    }

    @Test(
        "supabase_migrations.schema_migrations: a row per version with its name and the CLI's statements; adopted, not run again; no rollback (no down migrations)",
        .enabled(if: Engine.available.contains(.postgres)))
    func history() async throws {
        let db = try await TestDatabase.make(.postgres)
        let folder = try MigrationsDir(copying: Self.fixture)
        let migrations = folder.path + "/supabase/migrations"
        let catalog = MigrationCatalog.load(folder: migrations, dialect: .postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning { () async throws in
            let migrator = Migrator(database: database, catalog: catalog, lockTimeout: .seconds(5), logger: quietLogger)
            #expect(try await migrator.migrate() == ["20240101000000_create_profiles", "20240102000000_add_avatar"])
            #expect(
                try await texts(
                    db, "SELECT version || ' ' || name AS v FROM supabase_migrations.schema_migrations ORDER BY version"
                )
                    == ["20240101000000 create_profiles", "20240102000000 add_avatar"])
            #expect(
                try await texts(
                    db,
                    "SELECT unnest(statements) AS v FROM supabase_migrations.schema_migrations WHERE version = '20240102000000'"
                ) == [
                    "alter table profiles add column avatar_url text",
                    "create function profile_count() returns bigint\n  language sql\n  begin atomic; select count(*) from profiles; end",
                ])
            #expect(
                try await count(
                    db,
                    "SELECT array_length(statements, 1) AS n FROM supabase_migrations.schema_migrations WHERE version = '20240101000000'"
                ) == 4)
            // Supabase keeps no down migrations: nothing to roll back with, nothing changed.
            await #expect(throws: MigrationError.self) { try await migrator.rollback(steps: 1) }
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM supabase_migrations.schema_migrations") == 2)
        }

        // The schema the server left (before the rollback refused) equals what psql leaves running each file.
        let byFiles = try await TestDatabase.make(.postgres)
        try await runWhole(
            ["20240101000000_create_profiles.sql", "20240102000000_add_avatar.sql"].map { "\(migrations)/\($0)" },
            on: byFiles)
        let expected = try await schema(byFiles)
        #expect(!expected.isEmpty)
        #expect(try await schema(db) == expected)

        // A database the CLI migrated to its first version: adopted, the rest applied, nothing run twice.
        let adopted = try await TestDatabase.make(.postgres)
        try await TestSQL.runScript(
            adopted, try String(contentsOfFile: "\(migrations)/20240101000000_create_profiles.sql", encoding: .utf8))
        try await TestSQL.run(adopted, "INSERT INTO profiles (id, username) VALUES (1, 'a')")
        try await TestSQL.run(adopted, "CREATE SCHEMA supabase_migrations")
        try await TestSQL.run(
            adopted,
            "CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text)"
        )
        try await TestSQL.run(
            adopted,
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('20240101000000', 'create_profiles', '{}')"
        )
        let second = try MigrationsDir(copying: Self.fixture)
        let secondCatalog = MigrationCatalog.load(folder: second.path + "/supabase/migrations", dialect: .postgres)
        let secondDatabase = try AppDatabase(location: adopted.location, logger: quietLogger)
        try await secondDatabase.withRunning { () async throws in
            let migrator = Migrator(
                database: secondDatabase, catalog: secondCatalog, lockTimeout: .seconds(5), logger: quietLogger)
            #expect(try await migrator.migrate() == ["20240102000000_add_avatar"])
            #expect(try await migrator.status().applied.first?.state == .adopted)
        }
        #expect(try await count(adopted, "SELECT COUNT(*) AS n FROM profiles") == 1)

        // Proof: the whole folder on a database the CLI migrated, with rows: nothing runs, all adopted.
        let whole = try await TestDatabase.make(.postgres)
        try await runWhole(
            ["20240101000000_create_profiles.sql", "20240102000000_add_avatar.sql"].map { "\(migrations)/\($0)" },
            on: whole)
        try await TestSQL.run(whole, "INSERT INTO profiles (id, username) VALUES (1, 'a')")
        try await TestSQL.run(whole, "CREATE SCHEMA supabase_migrations")
        try await TestSQL.run(
            whole,
            "CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text)"
        )
        try await TestSQL.run(
            whole,
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('20240101000000', 'create_profiles', '{}'), ('20240102000000', 'add_avatar', '{}')"
        )
        let rowsBefore = try await rowCounts(whole)
        let wholeDatabase = try AppDatabase(location: whole.location, logger: quietLogger)
        try await wholeDatabase.withRunning { () async throws in
            let migrator = Migrator(
                database: wholeDatabase, catalog: secondCatalog, lockTimeout: .seconds(5), logger: quietLogger)
            #expect(try await migrator.migrate() == [])
            #expect(try await migrator.status().applied.allSatisfy { $0.state == .adopted })
        }
        #expect(try await rowCounts(whole) == rowsBefore)
    }
}
