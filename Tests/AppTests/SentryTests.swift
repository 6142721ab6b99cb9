import Foundation
import Testing

@testable import AppCore

@Suite("Sentry alerts")
struct SentryTests {
    @Test(
        "DSN parsing and the envelope endpoint",
        arguments: [
            ("https://abc123@o1.ingest.sentry.io/42", "https://o1.ingest.sentry.io/api/42/envelope/", "abc123"),
            (
                "http://pub:oldsecret@127.0.0.1:9000/sentry/path/7",
                "http://127.0.0.1:9000/sentry/path/api/7/envelope/", "pub"
            ),
        ])
    func dsn(_ raw: String, _ endpoint: String, _ key: String) throws {
        let dsn = try SentryDSN(raw)
        #expect(dsn.envelopeURL == endpoint)
        #expect(dsn.publicKey == key)
        #expect(!dsn.publicDSN.contains("oldsecret"))
        #expect(!"\(dsn)".contains(key), "the key stays out of descriptions")
    }

    @Test(
        "malformed DSNs are rejected",
        arguments: ["", "not a dsn", "ftp://k@h/1", "https://h/1", "https://k@h/", "https://k@/1"])
    func malformedDSN(_ raw: String) {
        #expect(throws: SentryDSN.ParseError.self) { try SentryDSN(raw) }
    }

    /// A generous timeout: on a loaded 2-core machine a local answer can take seconds, and a send that
    /// times out never sees the rate limit these tests are about.
    static func client(port: Int, logs: LogCapture = LogCapture(), timeout: Duration = .seconds(15)) throws
        -> SentryClient
    {
        SentryClient(
            dsn: try SentryDSN("http://publickey123@127.0.0.1:\(port)/42"), environment: "production",
            release: "app@1.2.3",
            logger: logs.logger(), timeout: timeout, serverName: "test-host"
        )
    }

    @Test(
        "one envelope per event, in Sentry's format, accepted by sentry_sdk's own parser",
        .enabled(if: Tool.python("sentry_sdk")))
    func envelope() async throws {
        let listener = SentryListener()
        try await listener.run { port in
            try await Self.client(port: port).send(
                Alert(checkID: "migration-secret.missing", message: "MIGRATION_SECRET is not set"))
        }
        let requests = listener.requests
        try #require(requests.count == 1)
        let request = requests[0]
        #expect(request.path == "/api/42/envelope/")
        #expect(request.headers["content-type"] == "application/x-sentry-envelope")
        #expect(
            request.headers["x-sentry-auth"]
                == "Sentry sentry_version=7, sentry_key=publickey123, sentry_client=\(SentryClient.clientName)/\(SentryClient.clientVersion)"
        )

        // Our own reading of the three lines.
        let lines = request.body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        #expect(lines.count >= 3)
        let header = try JSONSerialization.jsonObject(with: Data(lines[0])) as! [String: Any]
        let item = try JSONSerialization.jsonObject(with: Data(lines[1])) as! [String: Any]
        #expect(item["type"] as? String == "event")
        #expect(item["length"] as? Int == lines[2].count)
        #expect(header["dsn"] as? String == "http://publickey123@127.0.0.1:\(listener.port)/42")

        // The official parser's reading.
        let parsed = try await OfficialEnvelopeParser.parse(request.body)
        let headers = parsed["headers"] as! [String: Any]
        let eventID = headers["event_id"] as? String ?? ""
        #expect(eventID.range(of: "^[0-9a-f]{32}$", options: .regularExpression) != nil)
        #expect(headers["sent_at"] is String)
        #expect((headers["dsn"] as? String)?.hasPrefix("http://publickey123@127.0.0.1:") == true)
        let items = parsed["items"] as! [[String: Any]]
        try #require(items.count == 1)
        #expect(items[0]["type"] as? String == "event")
        #expect(items[0]["length_matches"] as? Bool == true)
        let payload = items[0]["payload"] as! [String: Any]
        #expect(payload["event_id"] as? String == eventID)
        #expect(payload["platform"] as? String == "other")
        #expect(payload["level"] as? String == "error")
        #expect(payload["timestamp"] is String)
        #expect(payload["logger"] as? String == "app.checks")
        #expect((payload["message"] as? [String: Any])?["formatted"] as? String == "MIGRATION_SECRET is not set")
        #expect(payload["environment"] as? String == "production")
        #expect(payload["release"] as? String == "app@1.2.3")
        #expect(payload["server_name"] as? String == "test-host")
        #expect(payload["tags"] as? [String: String] == ["check": "migration-secret.missing"])
    }

    @Test("each issue is sent once per cold start")
    func oncePerStart() async throws {
        let listener = SentryListener()
        try await listener.run { port in
            let client = try Self.client(port: port)
            await client.send(Alert(checkID: "a", message: "m"))
            await client.send(Alert(checkID: "a", message: "m"))
            await client.send(Alert(checkID: "b", message: "m"))
        }
        #expect(listener.requests.count == 2)
    }

    @Test("429 with Retry-After stops further sends until it passes")
    func retryAfter() async throws {
        let listener = SentryListener(answers: [.tooManyRequests(retryAfter: "60")])
        let logs = LogCapture()
        try await listener.run { port in
            let client = try Self.client(port: port, logs: logs)
            await client.send(Alert(checkID: "a", message: "m"))
            await client.send(Alert(checkID: "b", message: "m"))
        }
        #expect(listener.requests.count == 1)
        #expect(logs.lines.contains { $0.level == .warning && $0.text.contains("429") })
    }

    @Test("X-Sentry-Rate-Limits on any response is honoured for the error category")
    func rateLimitHeader() async throws {
        let listener = SentryListener(answers: [
            .limited(rateLimits: "60:transaction:key, 120:error;default:organization:quota")
        ])
        try await listener.run { port in
            let client = try Self.client(port: port)
            await client.send(Alert(checkID: "a", message: "m"))
            await client.send(Alert(checkID: "b", message: "m"))
        }
        #expect(listener.requests.count == 1)
    }

    @Test("a rate limit for other categories does not stop errors")
    func otherCategories() {
        let now = Date()
        #expect(SentryClient.parseRateLimits("60:transaction;session:key", now: now) == nil)
        #expect(SentryClient.parseRateLimits("30::organization", now: now) == now.addingTimeInterval(30))
        #expect(SentryClient.parseRateLimits("10:error:key, 50:default:key", now: now) == now.addingTimeInterval(50))
    }

    @Test("a stalled Sentry is given up on after the timeout, with a warning")
    func timeout() async throws {
        let listener = SentryListener(answers: [.stall(.seconds(10))])
        let logs = LogCapture()
        try await listener.run { port in
            let client = try Self.client(port: port, logs: logs, timeout: .milliseconds(500))
            let started = ContinuousClock.now
            await client.send(Alert(checkID: "a", message: "m"))
            // Well short of the stall, with room for a machine loaded by the rest of the suite.
            #expect(ContinuousClock.now - started < .seconds(6), "the send gave up instead of waiting 10 s")
        }
        #expect(logs.lines.contains { $0.level == .warning && $0.message.contains("could not be sent") })
    }

    @Test("an unreachable Sentry is logged as a warning and changes nothing else")
    func unreachable() async throws {
        let logs = LogCapture()
        // A loopback port nothing listens on: the connection is refused.
        let client = SentryClient(
            dsn: try SentryDSN("http://k@127.0.0.1:\(try refusedPort())/1"), environment: "production", release: nil,
            logger: logs.logger())
        await client.send(Alert(checkID: "a", message: "m"))
        #expect(logs.lines.contains { $0.level == .warning })
        #expect(!logs.lines.contains { $0.level >= .error })
    }
}
