import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("engines")
struct EngineTests {
    @Test(
        "PostgreSQL cases run: the cluster from scripts/test answers (skipped here means every PostgreSQL case was left out)",
        .enabled(if: Tool.postgres))
    func postgresCasesRun() async throws {
        #expect(Engine.available == [.sqlite, .postgres])
        let admin = try #require(TestDatabase.adminURL, "TEST_DATABASE_URL is not set; run the tests with scripts/test")
        let database = try AppDatabase(location: try DatabaseLocation(url: admin), logger: quietLogger)
        let problem = try await database.withRunning { await database.problem(timeout: .seconds(30)) }
        #expect(problem == nil)
    }
}
