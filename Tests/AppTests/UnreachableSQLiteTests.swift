import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("SQLite that cannot answer")
struct UnreachableSQLiteTests {
    @Test("a path that is a folder: set-up succeeds, the ping fails naming the path and the cause")
    func pathIsAFolder() async throws {
        let dir = try TempDir()
        let path = dir.url.appendingPathComponent("db.sqlite")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        let database = try AppDatabase(location: .sqlite(path: path.path), logger: quietLogger)
        let problem = try #require(await database.problem())
        #expect(AppDatabase.describe(problem) == "SQLite file \(path.path): it is a directory, not a database file")
        #expect(await !database.ping())
        let report = await runStartupChecks(
            CheckContext(config: try AppConfig(variables: [:]), database: database, migrations: Migration.all),
            checks: StartupCheck.all.filter { $0.name == "database" }
        )
        #expect(report.ids == ["database.unreachable"])
        #expect(
            report.results.first?.message.contains("\(path.path): it is a directory") == true,
            "the check names the path and the cause")
        #expect(report.results.first?.hint.hasPrefix("Check the path in DATABASE_URL") == true)
    }
}
