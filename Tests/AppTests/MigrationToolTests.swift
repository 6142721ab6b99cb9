import Foundation
import SQLKit
import Testing

@testable import AppCore

/// Every tool in `MigrationTools.all` holds together on its own: a tool added to the list is checked
/// here without a test of its own.
@Suite("the list of migration tools", .dropsTestDatabases)
struct MigrationToolTests {
    static var names: [String] { MigrationTools.all.map { $0.format.rawValue } }

    @Test("names are unique, and each is MIGRATIONS_FORMAT's name of its own tool")
    func names() {
        #expect(Set(Self.names).count == Self.names.count)
        for tool in MigrationTools.all {
            #expect(MigrationFormat(setting: " \(tool.format.rawValue.uppercased()) ") == tool.format)
            #expect(ObjectIdentifier(tool.format.tool) == ObjectIdentifier(tool))
        }
        #expect(MigrationFormat.allCases.map(\.rawValue) == Self.names)
        #expect(MigrationFormat(setting: "liquibase") == nil)
    }

    @Test(
        "what app migrate new writes is recognised as its tool's with no MIGRATIONS_FORMAT (as one of the tools a shared layout fits), and loads as one migration",
        arguments: MigrationTools.all.map { $0.format.rawValue })
    func newFilesAreRecognised(_ name: String) throws {
        let format = try #require(MigrationFormat(rawValue: name))
        // Drizzle has none: drizzle-kit writes its journal.
        guard let files = format.newFiles(stamp: "20260101000000", slug: "x") else { return }
        let folder = try MigrationsDir()
        // Supabase's folder is recognised by where it sits: supabase/migrations beside supabase/config.toml.
        let place = format == .supabase ? "supabase/migrations/" : ""
        if format == .supabase {
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(place), withIntermediateDirectories: true)
            try folder.write("supabase/config.toml", "project_id = \"x\"\n")
        }
        for file in files {
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(place + file.name).deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try folder.write(place + file.name, file.text)
        }
        let path = folder.path + "/" + place
        // What the tool's own command does next (Atlas writes atlas.sum), as `app migrate new` does it.
        try format.wroteNewFiles(in: path)
        let dialect: SQLEngine = format.history.postgresOnly ? .postgres : .sqlite
        let recognised = MigrationCatalog.load(folder: path, dialect: dialect)
        #expect(recognised.invalid == nil, "\(String(describing: recognised.invalid))")
        #expect(recognised.format == format || recognised.candidates.contains(format))
        let catalog = MigrationCatalog.load(folder: path, format: name, dialect: dialect)
        #expect(catalog.format == format)
        #expect(catalog.migrations.count == 1)
    }

    @Test(
        "each tool's markers are refused in a file read as any other tool's, and not in its own",
        arguments: MigrationTools.all.map { $0.format.rawValue })
    func markersAreRefusedElsewhere(_ name: String) throws {
        let format = try #require(MigrationFormat(rawValue: name))
        for marker in format.tool.markers {
            let text = "SELECT 1;\n-- \(marker) something\n"
            #expect(ToolMarkers.foreign(in: text, readAs: format) == nil)
            for other in MigrationTools.all where other.format != format {
                #expect(
                    ToolMarkers.foreign(in: text, readAs: other.format)?.line == 2, "\(marker) read as \(other.format)")
            }
        }
    }

    @Test(
        "each tool's history table is made as the tool makes it, found, recognised as the tool's, and read empty",
        arguments: Engine.available)
    func historyTables(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                // Tools that share a table name (dbmate's and golang-migrate's schema_migrations) one at a time.
                for tool in MigrationTools.all where engine == .postgres || !tool.history.postgresOnly {
                    let history = tool.history
                    #expect(try await !history.exists(sql, engine: database.engine), "\(tool.format)")
                    try await history.create(sql, engine: engine.dialect)
                    #expect(try await history.exists(sql, engine: database.engine), "\(tool.format)")
                    #expect(try await history.isToolsTable(sql, engine: database.engine), "\(tool.format)")
                    let ledger = try await history.read(sql, migrations: [], engine: engine.dialect)
                    #expect(ledger == ToolLedger(applied: []), "\(tool.format)")
                    let qualified = history.qualified(engine.dialect)
                    try await sql.raw("DROP TABLE \(unsafeRaw: qualified)").run()
                }
            }
        }
    }
}
