import Foundation
import SQLKit
import Testing

@testable import AppCore

@Suite("golang-migrate's folder run as golang-migrate runs it", .dropsTestDatabases)
struct GolangMigrateSchemaTests {
    /// PeerFolder's migrations as golang-migrate files; the second wrapped in BEGIN/COMMIT as its docs advise.
    static var files: [String: String] {
        var files: [String: String] = [:]
        for (index, name) in PeerFolder.dbmate.keys.sorted().enumerated() {
            let parts = PeerFolder.dbmate[name]!.components(separatedBy: "-- migrate:down\n")
            var up = parts[0].replacingOccurrences(of: "-- migrate:up\n", with: "")
            if index == 1 { up = "BEGIN;\n\(up)COMMIT;\n" }
            let stem = name.dropLast(4)
            files["\(stem).up.sql"] = up
            files["\(stem).down.sql"] = parts[1]
        }
        return files
    }

    @Test(
        "each file run whole, in order, by the engine's own client (as golang-migrate does) leaves the server's schema",
        arguments: Engine.available)
    func sameSchema(_ engine: Engine) async throws {
        let folder = try MigrationsDir(Self.files)
        let ups = Self.files.keys.filter { $0.hasSuffix(".up.sql") }.sorted().map { "\(folder.path)/\($0)" }
        let byFiles = try await TestDatabase.make(engine)
        try await runWhole(ups, on: byFiles)
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, folder, engine, format: "golang-migrate") {
            (migrator: Migrator) async throws in
            #expect(migrator.migrations.map(\.transactional) == [true, true, true, true])
            _ = try await migrator.migrate()
        }
        let expected = try await schema(byFiles)
        #expect(expected.contains("books_author"))
        #expect(try await schema(byServer) == expected)
    }
}
