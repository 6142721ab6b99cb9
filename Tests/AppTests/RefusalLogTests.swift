import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import AppServer

@Suite("a flood of refused calls, and the trailing slash")
struct RefusalLogTests {
    @Test("500 refused calls write 5 lines and one summary with the rest; authorised calls are all logged")
    func flood() async throws {
        let logs = LogCapture()
        try await AppHarness.run(.sqlite, logs: logs) { client, _ in
            for _ in 0..<500 {
                try await client.execute(
                    uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer wrong-token"]
                ) { #expect($0.status == .unauthorized) }
            }
            for _ in 0..<3 {
                try await client.execute(
                    uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"]
                ) { #expect($0.status == .ok) }
            }
        }
        let refused = logs.lines.filter { $0.message == "migrate call" && $0.metadata.contains("status=401") }
        #expect(refused.count == 5)
        #expect(logs.lines.filter { $0.message == "migrate call" && $0.metadata.contains("status=200") }.count == 3)
        let summaries = logs.lines.filter { $0.message == "migrate calls refused and not logged one by one" }
        #expect(summaries.count == 1)
        #expect(summaries.first?.level == .warning)
        #expect(summaries.first?.metadata.contains("refused=495") == true, "\(summaries.first?.metadata ?? "")")
    }

    @Test(
        "windows: a client's count starts again after the window, with a summary of the last; past the client limit refusals go under other"
    )
    func windows() {
        let logs = LogCapture()
        let logger = logs.logger(level: .debug)
        let log = RefusalLog(perWindow: 2, window: .seconds(60), maxClients: 2)
        let start = ContinuousClock.now
        #expect(
            (0..<5).map { _ in log.admit("10.0.0.1", logger: logger, now: start) } == [true, true, false, false, false])
        #expect(logs.lines.isEmpty)
        // The next window: a summary of 3, and two lines again.
        #expect(log.admit("10.0.0.1", logger: logger, now: start + .seconds(61)))
        #expect(
            logs.lines.count == 1 && logs.lines[0].metadata.contains("refused=3")
                && logs.lines[0].metadata.contains("client=10.0.0.1"))
        #expect(log.admit("10.0.0.2", logger: logger, now: start + .seconds(61)))
        // A third client is counted under "other".
        #expect(log.admit("10.0.0.3", logger: logger, now: start + .seconds(61)))
        #expect(log.admit("10.0.0.4", logger: logger, now: start + .seconds(61)))
        #expect(!log.admit("10.0.0.5", logger: logger, now: start + .seconds(61)))
        log.flush(logger: logger, all: true)
        #expect(logs.lines.contains { $0.metadata.contains("client=other") && $0.metadata.contains("refused=1") })
    }

    @Test("one rule for the trailing slash: /api/migrate/ is /api/migrate for every method")
    func trailingSlash() async throws {
        try await AppHarness.run(.sqlite) { client, _ in
            for uri in ["/api/migrate", "/api/migrate/"] {
                try await client.execute(uri: uri, method: .delete) { response in
                    #expect(response.status == .methodNotAllowed, "DELETE \(uri)")
                    #expect(response.headers[.allow] == "GET, HEAD, POST")
                }
                try await client.execute(uri: uri, method: .post) { #expect($0.status == .unauthorized, "POST \(uri)") }
                try await client.execute(uri: uri, method: .get) { #expect($0.status == .unauthorized, "GET \(uri)") }
            }
            try await client.execute(uri: "/api/migrate/runs/abc", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
            }
        }
    }
}
