import AppCore
import CoreMetrics
import Foundation
import Hummingbird
import Logging
import Prometheus
import Synchronization

/// The server's metrics, through swift-metrics into a Prometheus registry of this server's own (not
/// the process-wide `MetricsSystem`, so several servers in one process, as in the tests, stay apart).
/// No label ever holds a secret: routes are route patterns, outcomes and check ids are fixed names.
public final class AppMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// False when nothing serves them (`METRICS_PORT` unset): every recording returns at once.
    let enabled: Bool
    /// Each counter made once, by label and labels: the request path stays a dictionary lookup.
    private let counters = Mutex<[CounterKey: CoreMetrics.Counter]>([:])

    struct CounterKey: Hashable {
        var label: String
        var dimensions: [String]
    }

    /// The version `app_build_info` reports.
    public static let version = "0.1.0"

    public init(enabled: Bool = true) {
        self.enabled = enabled
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
            .milliseconds(500), .seconds(1), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
        ]
        self.factory = factory
        guard enabled else { return }
        Meter(label: "app_build_info", dimensions: [("version", Self.version)], factory: factory).set(1)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    private func increment(_ label: String, _ dimensions: [(String, String)] = []) {
        guard enabled else { return }
        let key = CounterKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    func request(route: String, method: String, status: Int) {
        increment("app_http_requests_total", [("route", route), ("method", method), ("status", "\(status)")])
    }

    /// One `POST /api/migrate`, by outcome: applied, nothing_pending, dry_run, unauthorized,
    /// misconfigured, too_large, conflict, failed, invalid, unavailable, shutting_down.
    func migrateCall(_ outcome: String) {
        // Before the dimensions' array is built: every refused call (401) comes here.
        guard enabled else { return }
        increment("app_migrate_calls_total", [("outcome", outcome)])
    }

    func migrationApplied(executionMs: Int64) {
        guard enabled else { return }
        increment("app_migrations_applied_total")
        Timer(label: "app_migration_duration_seconds", factory: factory).recordMilliseconds(executionMs)
    }

    func lockWaited(_ duration: Duration) {
        guard enabled else { return }
        Timer(label: "app_migration_lock_wait_seconds", factory: factory).record(duration: duration)
    }

    /// The startup checks' issues, one series per id and level (1 while reported).
    func checks(_ results: [CheckResult]) {
        guard enabled else { return }
        for result in results where result.level != .info {
            Meter(
                label: "app_startup_check_issues", dimensions: [("id", result.id), ("level", result.level.rawValue)],
                factory: factory
            ).set(1)
        }
    }
}

/// Counts every request by route pattern (`unmatched` when none), method and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: AppMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            let response = try await next(request, context)
            metrics.request(route: Self.route(context), method: request.method.rawValue, status: response.status.code)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            metrics.request(route: Self.route(context), method: request.method.rawValue, status: status.code)
            throw error
        }
    }

    /// The matched route's pattern; a path no route matches is `unmatched` (never the path itself,
    /// which is the client's to choose and would grow the series without bound).
    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }
}

/// `GET /metrics` on its own listener (`METRICS_PORT`, bound to `HOST`).
func metricsServer(metrics: AppMetrics, host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
    let router = Router()
    router.getAndHead("/metrics") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition()))
        )
    }
    return Application(
        router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil), logger: logger)
}
