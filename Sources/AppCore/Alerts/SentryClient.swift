import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Our own Sentry client (no Swift Sentry SDK is available here): one envelope per event, posted to
/// the DSN's envelope endpoint with Sentry's auth header, honouring 429/Retry-After and
/// `X-Sentry-Rate-Limits`, each send bounded by a short timeout.
public final class SentryClient: AlertSink {
    public static let clientName = "migrate-server"
    public static let clientVersion = "1.0.0"

    let dsn: SentryDSN
    let environment: String
    let release: String?
    let serverName: String
    let timeout: Duration
    let logger: Logger
    let httpClient: HTTPClient

    private struct State {
        /// Error events are dropped until this moment.
        var blockedUntil: Date?
        /// Alerts already sent this cold start, by check id.
        var sent: Set<String> = []
    }
    private let state = Mutex(State())

    public init(
        dsn: SentryDSN, environment: String, release: String?, logger: Logger,
        timeout: Duration = .seconds(2), httpClient: HTTPClient = .shared,
        serverName: String = ProcessInfo.processInfo.hostName
    ) {
        self.dsn = dsn
        self.environment = environment
        self.release = release
        self.logger = logger
        self.timeout = timeout
        self.httpClient = httpClient
        self.serverName = serverName
    }

    public func send(_ alert: Alert) async {
        let now = Date()
        let skip: String? = state.withLock { state in
            if state.sent.contains(alert.checkID) { return "already sent this start" }
            if let until = state.blockedUntil, until > now { return "rate limited by Sentry" }
            state.sent.insert(alert.checkID)
            return nil
        }
        if let skip {
            logger.debug("Sentry alert not sent", metadata: ["check": "\(alert.checkID)", "reason": "\(skip)"])
            return
        }
        let event = SentryEnvelope.Event(
            eventID: SentryEnvelope.newEventID(), timestamp: now, logger: "app.checks",
            message: alert.message, environment: environment, release: release,
            serverName: serverName, tags: ["check": alert.checkID]
        )
        do {
            var request = HTTPClientRequest(url: dsn.envelopeURL)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-sentry-envelope")
            request.headers.add(
                name: "X-Sentry-Auth",
                value:
                    "Sentry sentry_version=7, sentry_key=\(dsn.publicKey), sentry_client=\(Self.clientName)/\(Self.clientVersion)"
            )
            request.body = .bytes(ByteBuffer(data: try SentryEnvelope.encode(event, dsn: dsn)))
            let response = try await httpClient.execute(request, timeout: .milliseconds(timeout.milliseconds))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            applyRateLimits(status: response.status.code, headers: response.headers, now: Date())
            if response.status.code >= 300 {
                logger.warning(
                    "Sentry did not accept the alert",
                    metadata: ["check": "\(alert.checkID)", "status": "\(response.status.code)"])
            }
        } catch {
            logger.warning(
                "Sentry alert could not be sent",
                metadata: ["check": "\(alert.checkID)", "error": "\(type(of: error))"])
        }
    }

    /// Records how long Sentry asked us to stay quiet.
    func applyRateLimits(status: UInt, headers: HTTPHeaders, now: Date) {
        var until: Date?
        if let limits = headers.first(name: "X-Sentry-Rate-Limits") {
            until = Self.parseRateLimits(limits, now: now)
        } else if status == 429 {
            let seconds =
                headers.first(name: "Retry-After").flatMap { Double($0.trimmingSpaces()) } ?? 60
            until = now.addingTimeInterval(seconds)
        }
        guard let until else { return }
        state.withLock { state in
            state.blockedUntil = max(state.blockedUntil ?? until, until)
        }
    }

    /// `X-Sentry-Rate-Limits: retry_after:categories:scope[:reason], …`; an empty category list means all.
    /// Returns when error events may be sent again, or nil when they are not limited.
    static func parseRateLimits(_ value: String, now: Date) -> Date? {
        var latest: Date?
        for limit in value.split(separator: ",") {
            let fields = limit.trimmingSpaces().split(
                separator: ":", omittingEmptySubsequences: false)
            guard let seconds = fields.first.flatMap({ Double($0) }) else { continue }
            let categories = fields.count > 1 ? fields[1].split(separator: ";").map(String.init) : []
            guard categories.isEmpty || categories.contains("error") || categories.contains("default") else { continue }
            let until = now.addingTimeInterval(seconds)
            latest = max(latest ?? until, until)
        }
        return latest
    }
}
