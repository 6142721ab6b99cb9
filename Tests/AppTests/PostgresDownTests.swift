import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresKit
import Synchronization
import Testing

@testable import AppCore

/// PostgreSQL itself going away and coming back, on a cluster of the test's own.
@Suite("PostgreSQL down and back", .enabled(if: Tool.postgres))
struct PostgresDownTests {
    @Test(
        "down at startup: the check reports it and /healthz is 503; once it is up, 200 and a working POST; restarted under the server: the next calls work; no restart of the server"
    )
    func downThenUpThenRestarted() async throws {
        let cluster = try await OwnCluster()
        let dir = try TempDir()
        let server = try await ServerProcess.start(
            environment: [
                // development: the checks' findings are logged (as warnings); under test they are not.
                "DATABASE_URL": cluster.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
                "APP_ENV": "development",
            ], directory: dir.url)
        defer { Task { await server.stop() } }
        #expect(server.output.contains("check=database.unreachable"), "the startup check reports it: \(server.output)")
        #expect(try await get("\(server.baseURL)/healthz").0 == 503)
        #expect(try await post(server.baseURL).0 == 503)

        try await cluster.start()
        try await waitUntil("/healthz answers 200", timeout: .seconds(60)) {
            try await get("\(server.baseURL)/healthz").0 == 200
        }
        let (status, body) = try await post(server.baseURL)
        #expect(status == 200)
        #expect(
            body.contains(
                #""applied":["0001_create_users","0002_create_accounts","0003_create_sessions","0004_create_verification_tokens"]"#
            ), "\(body)")

        // Every pooled connection is ended by the restart; the next calls get new ones.
        try await cluster.restart()
        try await waitUntil("/healthz answers 200 after the restart", timeout: .seconds(60)) {
            try await get("\(server.baseURL)/healthz").0 == 200
        }
        let (again, againBody) = try await post(server.baseURL)
        #expect(again == 200)
        #expect(againBody.contains(#""applied":[]"#), "\(againBody)")
        #expect(server.process.isRunning)
    }
}
