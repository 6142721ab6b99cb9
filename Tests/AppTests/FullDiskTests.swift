import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresKit
import Synchronization
import Testing

@testable import AppCore

/// SQLite on a disk that fills up in the middle of a migration: a small tmpfs, mounted by the test
/// (root only; CI runs as root).
@Suite("SQLite on a full disk", .enabled(if: geteuid() == 0))
struct FullDiskTests {
    @Test(
        "a migration that fills the disk fails naming itself and the cause, is rolled back whole, and the file passes integrity_check"
    )
    func fullDisk() async throws {
        let mount = try TempDir()
        let mounted = try await runProcess(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mount.path])
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer { _ = try? runProcessBlocking(["umount", "-l", mount.path]) }
        let path = mount.path + "/full.sqlite"
        let folder = try MigrationsDir([
            "1_small.sql": "-- migrate:up\nCREATE TABLE small (id INTEGER);\nINSERT INTO small VALUES (1);\n",
            "2_fill.sql": """
            -- migrate:up
            CREATE TABLE big (b BLOB);
            INSERT INTO big SELECT randomblob(1000) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000) SELECT x FROM c);
            """,
        ])
        let env = ["DATABASE_URL": "sqlite://\(path)", "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        let result = try await AppBinary.run(["migrate"], environment: env, directory: mount.url)
        #expect(result.status == 1)
        #expect(result.err.contains("error: migration 2_fill failed"), "\(result.err)")
        #expect(result.err.contains("database or disk is full"), "the cause is in the log line: \(result.err)")

        // Python's sqlite3 reads the file: 1_small applied, nothing of 2_fill, and the file is sound.
        let check = try await runProcess([
            "python3", "-c",
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            print(c.execute("PRAGMA integrity_check").fetchone()[0])
            print(",".join(r[0] for r in c.execute("SELECT id FROM app_migrations ORDER BY id")))
            print(",".join(sorted(r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('small', 'big')"))))
            """, path,
        ])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.out == "ok\n1_small\nsmall\n")
    }
}
