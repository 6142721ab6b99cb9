import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// A migrations folder in a temp directory.
final class MigrationsDir: Sendable {
    let dir: TempDir
    var path: String { dir.path }

    init(_ files: [String: String] = [:]) throws {
        dir = try TempDir()
        for (name, text) in files { try write(name, text) }
    }

    func write(_ name: String, _ text: String) throws { try dir.write(name, text) }
    func remove(_ name: String) throws { try FileManager.default.removeItem(at: dir.url.appendingPathComponent(name)) }

    func catalog(_ engine: Engine) -> MigrationCatalog {
        MigrationCatalog.load(folder: path, dialect: engine == .sqlite ? .sqlite : .postgres)
    }
}

let authHeader: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]

/// Runs the application on `db` with the migrations of `folder` (read now, as at startup).
func withFolderApp(
    _ db: TestDatabase, _ folder: MigrationsDir, _ engine: Engine, logs: LogCapture = LogCapture(),
    _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
    try await buildApplication(config: config, logger: logs.logger(), catalog: folder.catalog(engine)).sweptTest(
        .router, body)
}

/// Runs `body` with a migrator for `folder` on `db` (the format recognised, or `format`).
func withFolderMigrator(
    _ db: TestDatabase, _ folder: MigrationsDir, _ engine: Engine, format: String? = nil,
    _ body: @Sendable @escaping (Migrator) async throws -> Void
) async throws {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withRunning {
        let catalog = MigrationCatalog.load(folder: folder.path, format: format, dialect: engine.dialect)
        if let invalid = catalog.invalid { throw invalid }
        try await body(Migrator(database: database, catalog: catalog, lockTimeout: .seconds(5), logger: quietLogger))
    }
}

extension Engine {
    var dialect: SQLEngine { self == .sqlite ? .sqlite : .postgres }
}
