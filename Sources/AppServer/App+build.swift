import AppCore
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import ServiceLifecycle

/// ServiceLifecycle names each service it runs by `"\(service)"`. For a type without a description
/// that is a reflection of every field, and each field's type costs a scan of the runtime's conformance
/// tables: about a millisecond of a cold start for a Hummingbird `Application` (docs/benchmarks.md).
/// So every service this server runs has a short name of its own; this gives one to any service.
/// Even with a description, each type costs two scans the first time (whether it is
/// `TextOutputStreamable`, then `CustomStringConvertible`): every service the server runs goes to
/// ServiceLifecycle in this one type.
public struct NamedService: Service, CustomStringConvertible {
    let service: any Service
    public let description: String

    public init(_ description: String, _ service: any Service) {
        self.description = description
        self.service = service
    }

    /// `service` under its own description.
    public init(_ service: any Service & CustomStringConvertible) {
        self.init(service.description, service)
    }

    public func run() async throws {
        try await service.run()
    }
}

/// Keeps the database's background work (the PostgreSQL pool) alive for the server's lifetime.
struct DatabaseService: Service, CustomStringConvertible {
    let database: AppDatabase
    var description: String { "DatabaseService" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await database.run()
        }
    }
}

/// The alert sink a config asks for: Sentry when `SENTRY_DSN` parses, none otherwise
/// (a malformed DSN is reported by the `alerts` check, and never crashes the app).
public func makeAlertSink(config: AppConfig, logger: Logger) -> (any AlertSink)? {
    guard let raw = config.sentryDSN, let dsn = try? SentryDSN(raw.value) else { return nil }
    return SentryClient(dsn: dsn, environment: config.environmentName, release: config.sentryRelease, logger: logger)
}

/// Runs the startup checks beside the listener rather than before it: a cold start answers its first
/// request without waiting for them, and nothing the server answers depends on them (the gate reads
/// the configuration itself). The bound port goes to `onServerRunning` once the listener is up and the
/// report is out, so whoever waits for it (`--port-file`, the tests) sees the report first.
struct StartupChecksService: Service, CustomStringConvertible {
    let check: @Sendable () async -> Void
    let listening: AsyncStream<Int>
    let onServerRunning: @Sendable (Int) async -> Void
    var description: String { "StartupChecks" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await check()
            for await port in listening {
                await onServerRunning(port)
                break
            }
        }
        // Ends with the server, not before: a service that returns early would stop the group.
        try? await gracefulShutdown()
    }
}

/// Builds the server: database, gate, migrator, routes, and the startup checks that run on every
/// cold start as the listener opens. `app serve` and the tests both call this.
public func buildApplication(
    config: AppConfig,
    logger: Logger,
    alerts: (any AlertSink)? = nil,
    migrations: [Migration],
    drain: ShutdownDrain = ShutdownDrain(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    onChecksReported: @escaping @Sendable (CheckReport) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    try buildApplication(
        config: config, logger: logger, alerts: alerts, catalog: MigrationCatalog(migrations: migrations), drain: drain,
        onServerRunning: onServerRunning, onChecksReported: onChecksReported
    )
}

/// The same, with the migrations read from `MIGRATIONS_DIR` (or the built-in set): what `app serve` runs.
/// `onChecksReported` follows the startup report (also without a listener, as in a router test);
/// `onServerRunning` gets the bound port once the listener is up and the report is out.
public func buildApplication(
    config: AppConfig,
    logger: Logger,
    alerts: (any AlertSink)? = nil,
    catalog: MigrationCatalog,
    drain: ShutdownDrain = ShutdownDrain(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    onChecksReported: @escaping @Sendable (CheckReport) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let database = try AppDatabase(
        location: config.database, sqliteJournalMode: config.sqliteJournalMode, postgresPool: config.databasePool,
        logger: logger)
    let metrics = AppMetrics(enabled: config.metricsPort != nil)
    var migrator = Migrator(
        database: database, catalog: catalog, lockTimeout: config.migrationLockTimeout, logger: logger)
    migrator.onProgress = { event in
        if case .applied(_, let executionMs) = event { metrics.migrationApplied(executionMs: executionMs) }
    }
    migrator.onLockWait = { metrics.lockWaited($0) }
    migrator.lockPolicy = config.lockPolicy
    migrator.lintMode = config.lintMode
    migrator.linter = MigrationLinter(smallTable: config.lintSmallTable)
    let gate = MigrationGate(config: config)

    let router = Router(context: AppRequestContext.self)
    // Counted only when someone can read them: without METRICS_PORT the request path pays nothing.
    if metrics.enabled { router.add(middleware: RequestMetricsMiddleware(metrics: metrics)) }
    addHealthRoutes(to: router, database: database, drain: drain, logger: logger)
    let refusals = RefusalLog()
    MigrateRoutes(
        gate: gate, migrator: migrator, transport: Transport(config: config), metrics: metrics, drain: drain,
        refusals: refusals
    )
    .add(to: router)
    addSessionRoutes(to: router, reader: SessionReader(config: config))
    // After every route: a router's middleware wraps only the routes added after it, and the answer for
    // a request no route takes. A request a route takes has a method its path allows, so only those
    // others reach this one (the 401 flood's POST does not go through it).
    router.add(middleware: MethodNotAllowedMiddleware())

    // HTTPS, with HTTP/2 by ALPN beside HTTP/1.1, when TLS_CERT_FILE and TLS_KEY_FILE are set.
    var services: [any Service & CustomStringConvertible] = [
        DatabaseService(database: database), RefusalLogFlusher(log: refusals, logger: logger),
    ]
    let server: HTTPServerBuilder
    // Connections that would otherwise stay open for ever are closed (LingeringClose.swift).
    let http1Configuration = HTTP1Channel.Configuration(
        additionalChannelHandlers: [LingeringClose()],
        idleTimeout: .init(ConnectionLimits.idleTimeout)
    )
    if let certFile = config.tlsCertFile, let keyFile = config.tlsKeyFile {
        let tls = try ServerTLS(certFile: certFile, keyFile: keyFile)
        server = try .http2Upgrade(
            tlsConfiguration: tls.configuration,
            configuration: .init(idleTimeout: ConnectionLimits.idleTimeout, streamConfiguration: http1Configuration)
        )
        services.append(ReloadService(tls: tls, logger: logger))
    } else {
        server = .http1(configuration: http1Configuration)
        services.append(ReloadService(tls: nil, logger: logger))
    }
    if let metricsPort = config.metricsPort {
        services.append(
            NamedService(
                "MetricsServer", metricsServer(metrics: metrics, host: config.host, port: metricsPort, logger: logger)))
    }

    let sink = alerts ?? makeAlertSink(config: config, logger: logger)
    let (listening, listened) = AsyncStream<Int>.makeStream()
    services.append(
        StartupChecksService(
            check: {
                let report = await runStartupChecks(CheckContext(config: config, database: database, catalog: catalog))
                // Stopped before they finished: a database check cut short is no finding.
                guard !Task.isCancelled else { return }
                metrics.checks(report.results)
                await CheckReporter(environment: config.environment, logger: logger, alerts: sink).report(report)
                await onChecksReported(report)
            },
            listening: listening,
            onServerRunning: onServerRunning
        ))
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
        services: services.map { $0 as? NamedService ?? NamedService($0) },
        onServerRunning: { channel in
            listened.yield(channel.localAddress?.port ?? config.port)
            listened.finish()
        },
        logger: logger
    )
}
