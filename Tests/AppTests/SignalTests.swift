import Foundation
import Testing

@testable import AppCore

@Suite("signals")
struct SignalTests {
    @Test("SIGHUP without TLS: logged as nothing to reload, and the server goes on answering")
    func sighupWithoutTLS() async throws {
        let dir = try TempDir()
        let server = try await ServerProcess.start(
            environment: [
                "APP_ENV": "test", "NEXTAUTH_SECRET": Secrets.session, "MIGRATION_SECRET": Secrets.migration,
            ],
            directory: dir.url)
        defer { Task { await server.stop() } }
        kill(server.process.processIdentifier, SIGHUP)
        try await waitUntil("the SIGHUP is logged") { server.output.contains("SIGHUP: nothing to reload") }
        #expect(server.process.isRunning)
        let (status, _) = try await get(server.baseURL + "/livez")
        #expect(status == 200)
    }
}
