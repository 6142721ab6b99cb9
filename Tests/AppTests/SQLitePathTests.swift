import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import AppCore

/// SQLite paths that cannot be used, through `app migrate` run without privileges (so file
/// permissions apply even when the tests run as root): each names the path and the cause.
@Suite("SQLite paths that cannot be used")
struct SQLitePathTests {
    /// A folder anyone may enter, holding the case's path.
    static func folder() throws -> TempDir {
        let dir = try TempDir()
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
        return dir
    }

    static func migrate(_ path: String, in dir: TempDir) async throws -> (status: Int32, out: String, err: String) {
        try await AppBinary.runUnprivileged(
            ["migrate"], environment: ["DATABASE_URL": "sqlite://\(path)", "APP_ENV": "test"], directory: dir.url)
    }

    @Test("a directory, a file it may not read, a folder it may not create the file in")
    func unopenable() async throws {
        let dir = try Self.folder()
        let directory = dir.url.appendingPathComponent("is-a-folder.sqlite").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let unreadable = dir.url.appendingPathComponent("unreadable.sqlite").path
        try writeFile(unreadable, Data())
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: unreadable)
        let closed = dir.url.appendingPathComponent("closed")
        try FileManager.default.createDirectory(at: closed, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: closed.path)
        let uncreatable = closed.appendingPathComponent("new.sqlite").path

        for (path, reason) in [
            (directory, "it is a directory, not a database file"),
            (unreadable, "no permission to read it"),
            (uncreatable, "it does not exist, and there is no permission to create it in \(closed.path)"),
        ] {
            let result = try await Self.migrate(path, in: dir)
            #expect(result.status == 1, "\(path): \(result.err)")
            #expect(result.err.contains("SQLite file \(path): \(reason)"), "\(result.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: uncreatable))
    }

    @Test("a read-only file: a migration names the path and that it is read-only, and the file is unchanged")
    func readOnly() async throws {
        let dir = try Self.folder()
        let path = dir.url.appendingPathComponent("ro.sqlite").path
        // A database with one table, made by Python's sqlite3, then made read-only.
        let made = try await runProcess([
            "python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE t (x)'); c.commit()", path,
        ])
        try #require(made.status == 0, "\(made.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        let result = try await Self.migrate(path, in: dir)
        #expect(result.status == 1, "\(result.err)")
        #expect(
            result.err.contains("SQLite file \(path): it is read-only for this process, and migrations write to it"),
            "\(result.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }
}
