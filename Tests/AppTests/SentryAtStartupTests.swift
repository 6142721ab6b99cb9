import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresKit
import Synchronization
import Testing

@testable import AppCore

/// Sentry misbehaving while `app serve` starts (production, so the missing migration secret is an
/// error sent to Sentry): the start waits at most the send's 2 s budget, nothing is retried, the server serves.
@Suite("Sentry misbehaving at startup")
struct SentryAtStartupTests {
    enum Trouble: String, CaseIterable, Sendable { case hangs, refuses, limits }

    @Test(
        "startup is delayed by at most the send budget, no retry loop, the server serves", arguments: Trouble.allCases)
    func sentryTrouble(_ trouble: Trouble) async throws {
        let listener = SentryListener(
            answers: trouble == .hangs ? [.stall(.seconds(25))] : [.tooManyRequests(retryAfter: "60")])
        try await listener.run { port in
            let sentryPort = trouble == .refuses ? try refusedPort() : port
            let dir = try TempDir()
            let started = ContinuousClock.now
            let server = try await ServerProcess.start(
                environment: [
                    "APP_ENV": "production", "NEXTAUTH_SECRET": Secrets.session,
                    "SENTRY_DSN": "http://key@127.0.0.1:\(sentryPort)/1",
                ], directory: dir.url)
            let startup = ContinuousClock.now - started
            defer { Task { await server.stop() } }
            // A 25 s stall would hold a start without a budget for 25 s; the bound leaves room for a loaded machine.
            #expect(startup < .seconds(15), "started in \(startup)")
            #expect(try await get("\(server.baseURL)/livez").0 == 200)
            // The send may still be on its way when the budget ends and the port file is written.
            let expected = trouble == .refuses ? 0 : 1
            try await waitUntil("the envelope arrives", timeout: .seconds(10)) { listener.requests.count >= expected }
            let sent = listener.requests.count
            #expect(sent == expected, "one envelope for the one error")
            try await Task.sleep(for: .seconds(3))
            #expect(listener.requests.count == sent, "nothing is retried")
            #expect(server.output.contains("could not be sent") || trouble == .limits, "\(server.output)")
        }
    }
}
