import Foundation
import Testing

@testable import AppCore

/// yoyo's folders as yoyo-migrations' `yoyo/migrations.py` reads them (the real yoyo is in PeerToolTests).
@Suite("yoyo: its files and its order")
struct YoyoTests {
    static func load(_ files: [String: String]) throws -> MigrationCatalog {
        let folder = try MigrationsDir(files)
        return withExtendedLifetime(folder) { MigrationCatalog.load(folder: folder.path, dialect: .sqlite) }
    }

    @Test(
        "the order of yoyo's topological sort: the names' order, each held back until what it depends on is out; directives on several lines add up"
    )
    func order() throws {
        let catalog = try Self.load([
            "a.sql": "-- depends: c\nSELECT 1;\n",
            "b.sql": "SELECT 1;\n",
            "c.sql": "-- c\n-- depends: b\n--depends : \n-- depends: d\nSELECT 1;\n",
            "d.sql": "SELECT 1;\n",
            "e.sql": "SELECT 1;\n",
        ])
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.format == .yoyo)
        #expect(catalog.migrations.map(\.id) == ["b", "d", "c", "a", "e"])
        #expect(catalog.migrations.first?.toolKey == YoyoFormat.hash("b"))
    }

    @Test("-- transactional: false runs both ways outside a transaction; the rollback file is the down")
    func transactions() throws {
        let catalog = try Self.load([
            "1.sql": "-- depends:\n-- transactional: false\nCREATE INDEX i ON t (id);\n",
            "1.rollback.sql": "DROP INDEX i;\n",
        ])
        let migration = try #require(catalog.migrations.first)
        #expect(!migration.transactional && !migration.downTransactional)
        #expect(migration.down == ["DROP INDEX i"])
    }

    @Test(
        "what yoyo cannot or the server does not run is invalid, naming the file: Python migrations, post-apply hooks, a missing dependency, a cycle, a bad directive",
        arguments: [
            (["1.sql": "-- depends:\nSELECT 1;\n", "2.py": "steps = []\n"], "2.py: a migration written in Python"),
            (
                ["1.sql": "-- depends:\nSELECT 1;\n", "post-apply.sql": "SELECT 1;\n"],
                "post-apply.sql: a post-apply hook"
            ),
            (["1.sql": "-- depends: 0\nSELECT 1;\n"], "1.sql: depends on 0, which is not in the folder"),
            (["1.sql": "-- depends: 2\n", "2.sql": "-- depends: 1\n"], "circular dependencies among 1, 2"),
            (["1.sql": "-- depends:\n-- transactional: maybe\n"], "1.sql:2: -- transactional: must be true or false"),
        ])
    func refusals(_ files: [String: String], _ expected: String) throws {
        let invalid = try #require(try Self.load(files).invalid)
        #expect(invalid.description.contains(expected), "\(invalid)")
    }
}
