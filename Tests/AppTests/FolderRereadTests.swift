import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

/// The folder is read as it is at each authorised call and each command, not once at startup.
@Suite("the folder as it is now", .dropsTestDatabases)
struct FolderRereadTests {
    static func file(_ table: String) -> String { "-- migrate:up\nCREATE TABLE \(table) (id INTEGER);\n" }

    @Test(
        "a running server applies a file added to its folder at the next POST; a broken file is refused (500) until it is fixed",
        arguments: Engine.available)
    func runningServerSeesNewFiles(_ engine: Engine) async throws {
        let folder = try MigrationsDir(["1_a.sql": Self.file("a")])
        let db = try await TestDatabase.make(engine)
        try await withFolderApp(db, folder, engine) { client in
            func post(_ status: HTTPResponse.Status, applied: [String]? = nil) async throws {
                try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                    #expect(response.status == status)
                    if let applied { #expect(response.json["applied"] as? [String] == applied) }
                }
            }
            try await post(.ok, applied: ["1_a"])
            try folder.write("2_b.sql", Self.file("b"))
            try await post(.ok, applied: ["2_b"])
            try folder.write("3_c.sql", "CREATE TABLE c (id INTEGER);\n")
            try await post(.internalServerError)
            try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) { response in
                #expect(response.status == .internalServerError)
            }
            try folder.write("3_c.sql", Self.file("c"))
            try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) { response in
                #expect(response.status == .ok)
                #expect((response.json["pending"] as? [Any])?.count == 1, "\(response.json)")
            }
            try await post(.ok, applied: ["3_c"])
            try await post(.ok, applied: [])
        }
        #expect(try await historyIDs(db) == ["1_a", "2_b", "3_c"])
    }

    @Test("a folder read once is read again when a file changes, even at the same size")
    func sameSizeEdit() async throws {
        let folder = try MigrationsDir(["1_a.sql": Self.file("a")])
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: .sqlite)
        // Settled (nothing changed for a second or more), the folder's catalog is kept between reads.
        try await Task.sleep(for: .seconds(2.2))
        #expect(catalog.current().migrations.first?.statements == ["CREATE TABLE a (id INTEGER)"])
        try folder.write("1_a.sql", Self.file("z"))
        #expect(catalog.current().migrations.first?.statements == ["CREATE TABLE z (id INTEGER)"])
        try folder.remove("1_a.sql")
        #expect(catalog.current().migrations.isEmpty)
    }
}
