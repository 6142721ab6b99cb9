import AppCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `/api/migrate`: the gate first (503, then 401), then the migrator.
struct MigrateRoutes: Sendable {
    static let path = "/api/migrate"
    static let allow = "GET, HEAD, POST"
    /// Bodies are ignored; an authorised request with a larger one gets 413. The one body cap: it is
    /// enforced here, by `bodyWithinCap`, since Hummingbird itself streams bodies of any size.
    static let maxBodyBytes = 16 * 1024

    let gate: MigrationGate
    let migrator: Migrator
    let transport: Transport
    let metrics: AppMetrics
    let drain: ShutdownDrain
    /// Bounds the lines a flood of 401s writes.
    let refusals: RefusalLog
    /// Runs started with `Prefer: respond-async`.
    let runs = MigrationRuns()

    struct Applied: Encodable {
        var success = true
        var message = "Migrations applied"
        var applied: [String]
    }

    struct Started: Encodable {
        var success = true
        var message = "Migration run started"
        var run: String
    }

    struct RunInProgress: Encodable {
        var success = true
        var message = "Migration run in progress"
        var run: String
        var state = "running"
    }

    struct DryRun: Encodable {
        var success = true
        var message = "Dry run: nothing applied"
        var dryRun = true
        var pending: [String]
    }

    func add(to router: Router<AppRequestContext>) {
        router.post(RouterPath(Self.path)) { request, context in
            // A refusal is answered here, with no further async call: the 401 path is the one a flood drives.
            if let refusal = self.refusedPost(request, context) { return refusal }
            return await self.post(request, context)
        }
        router.getAndHead(RouterPath(Self.path)) { request, context in
            await self.get(request, context)
        }
        router.getAndHead(RouterPath(Self.path + "/runs/:id")) { request, context in
            await self.getRun(request, context)
        }
    }

    // The refusals never vary, so they are encoded once: the 401 path is the one an attacker drives.
    static let misconfigured = Response.json(.serviceUnavailable, Failure("Migration endpoint misconfigured"))
    static let shuttingDown = Response.json(.serviceUnavailable, Failure("Server shutting down"))
    static let unauthorized = Response.json(
        .unauthorized, Failure("Unauthorized"), headers: [.wwwAuthenticate: #"Bearer realm="migrate""#])

    /// The gate's answer as a response, or nil when the request is authorised.
    private func refusal(_ request: Request) -> Response? {
        switch gate.decide(authorization: request.headers[values: .authorization]) {
        case .misconfigured: Self.misconfigured
        case .unauthorized: Self.unauthorized
        case .authorized: nil
        }
    }

    /// Reads (and drops) the body within the cap; false when it is over.
    private func bodyWithinCap(_ request: Request) async -> Bool {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxBodyBytes { return false }
        do {
            _ = try await request.body.collect(upTo: Self.maxBodyBytes)
            return true
        } catch {
            return false
        }
    }

    /// The gate's refusal of a POST, counted and logged; nil when the request is authorised.
    private func refusedPost(_ request: Request, _ context: AppRequestContext) -> Response? {
        guard let refusal = refusal(request) else { return nil }
        metrics.migrateCall(refusal.status == .unauthorized ? "unauthorized" : "misconfigured")
        log(context, request: request, status: refusal.status, applied: [])
        return refusal
    }

    /// An authorised POST.
    private func post(_ request: Request, _ context: AppRequestContext) async -> Response {
        var applied: [String] = []
        let response = await decidePost(request, logger: context.logger, applied: &applied)
        log(context, request: request, status: response.status, applied: applied)
        return response
    }

    private func decidePost(_ request: Request, logger: Logger, applied: inout [String]) async -> Response {
        guard await bodyWithinCap(request) else {
            metrics.migrateCall("too_large")
            return .json(.contentTooLarge, Failure("Request body too large"))
        }
        let dryRun = ["1", "true"].contains(request.uri.queryParameters.get("dryRun")?.lowercased() ?? "")
        do {
            if dryRun {
                let pending = try await migrator.pending()
                metrics.migrateCall("dry_run")
                return .json(.ok, DryRun(pending: pending))
            }
        } catch {
            metrics.migrateCall(Self.outcome(of: error))
            return Self.failure(error, logger: logger)
        }
        if request.prefersAsync {
            guard drain.enter() else {
                metrics.migrateCall("shutting_down")
                return Self.shuttingDown
            }
            // The run goes on without its caller; its answer waits at the run's location.
            let id = await runs.start { [self] id in
                defer { drain.leave() }
                let (answer, applied) = await apply(logger: logger)
                logger.info(
                    "migrate run finished",
                    metadata: [
                        "run": "\(id)", "status": "\(answer.status.code)",
                        "applied": .array(applied.map { .string($0) }),
                    ])
                return answer
            }
            return .json(
                .accepted, Started(run: id),
                headers: [.location: "\(Self.path)/runs/\(id)", .preferenceApplied: "respond-async"])
        }
        guard let (answer, done) = await drain.run({ await apply(logger: logger) }) else {
            metrics.migrateCall("shutting_down")
            return Self.shuttingDown
        }
        applied = done
        return answer.response
    }

    /// One run of the migrator, as the synchronous call answers it.
    private func apply(logger: Logger) async -> (Answer, [String]) {
        do {
            let applied = try await migrator.migrate()
            metrics.migrateCall(applied.isEmpty ? "nothing_pending" : "applied")
            return (Answer(status: .ok, body: Self.encoded(Applied(applied: applied))), applied)
        } catch {
            metrics.migrateCall(Self.outcome(of: error))
            let (status, failure) = Self.failureBody(error, logger: logger)
            return (Answer(status: status, body: Self.encoded(failure)), [])
        }
    }

    static func encoded(_ body: some Encodable) -> Data {
        (try? apiJSON(body)) ?? Data(Response.encodingFailure.utf8)
    }

    /// `GET /api/migrate/runs/<id>`, behind the same gate: 202 while the run goes on, then the status
    /// and body the synchronous call would have given; 404 for a run this server does not know.
    private func getRun(_ request: Request, _ context: AppRequestContext) async -> Response {
        let response: Response
        if let refusal = refusal(request) {
            response = refusal
        } else if let id = context.parameters.get("id"), let state = await runs.state(id) {
            switch state {
            case .running: response = .json(.accepted, RunInProgress(run: id), headers: [.retryAfter: "1"])
            case .done(let answer): response = answer.response
            }
        } else {
            response = .json(.notFound, Failure("Unknown migration run"))
        }
        log(context, request: request, status: response.status, applied: nil)
        return response
    }

    /// The metrics' name for a failed call.
    static func outcome(of error: any Error) -> String {
        switch MigrationFailure(error) {
        case .databaseUnavailable: "unavailable"
        case .migration(let error):
            switch error {
            case .failed, .noDownSection, .notInterrupted, .unknownMigration: "failed"
            case .lockTimeout, .drift, .foreignHistory, .interrupted: "conflict"
            case .invalid, .transactionPooler: "invalid"
            case .connectionLost: "unavailable"
            case .blockedByLock: "blocked"
            case .refusedByLint: "refused_by_lint"
            }
        }
    }

    private func get(_ request: Request, _ context: AppRequestContext) async -> Response {
        let response: Response
        if let refusal = refusal(request) {
            response = refusal
        } else {
            do {
                response = .json(.ok, try await migrator.status())
            } catch {
                response = Self.failure(error, logger: context.logger)
            }
        }
        log(context, request: request, status: response.status, applied: nil)
        return response
    }

    static func failure(_ error: any Error, logger: Logger) -> Response {
        let (status, failure) = failureBody(error, logger: logger)
        return .json(status, failure)
    }

    /// The status and body of a failed call, with the cause logged.
    static func failureBody(_ error: any Error, logger: Logger) -> (HTTPResponse.Status, Failure) {
        guard case .migration(let failure) = MigrationFailure(error) else {
            logger.error(
                "migration endpoint: database unavailable", metadata: ["cause": "\(AppDatabase.describe(error))"])
            return (.serviceUnavailable, Failure("Database unavailable"))
        }
        switch failure {
        case .failed(let id): return (.internalServerError, Failure("Migration failed", migration: id))
        case .lockTimeout: return (.conflict, Failure("Migration already in progress"))
        case .drift(let id): return (.conflict, Failure("Migration history does not match", migration: id))
        case .foreignHistory(_, let tool):
            return (.conflict, Failure("Migration history belongs to another tool", tool: tool))
        case .interrupted(let id): return (.conflict, Failure("Migration interrupted", migration: id))
        case .invalid(let problem):
            logger.error(
                "migration endpoint: migrations invalid", metadata: ["file": "\(problem.file)", "reason": "\(problem)"])
            return (.internalServerError, Failure("Migrations invalid", migration: problem.file))
        case .transactionPooler:
            logger.error("migration endpoint: \(failure)")
            return (.internalServerError, Failure("Migration needs a direct database connection"))
        case .connectionLost(let id): return (.serviceUnavailable, Failure("Database unavailable", migration: id))
        case .refusedByLint(let id, let rules):
            return (.unprocessableContent, Failure("Migration refused by lint", migration: id, rules: rules))
        case .blockedByLock(let id, let blocker):
            return (.serviceUnavailable, Failure("Migration blocked by a lock", migration: id, blockedBy: blocker))
        // Rollback and resolve are the command line's alone; the endpoint never runs them.
        case .noDownSection(let id), .notInterrupted(let id), .unknownMigration(let id):
            return (.internalServerError, Failure("Migration failed", migration: id))
        }
    }

    /// One info line per call (a flood of 401s from one client is summarised: `RefusalLog`). Never the
    /// Authorization header, never the secret.
    private func log(_ context: AppRequestContext, request: Request, status: HTTPResponse.Status, applied: [String]?) {
        guard context.logger.logLevel <= .info else { return }
        let origin = transport.origin(request, context)
        if status == .unauthorized, !refusals.admit(origin.client, logger: context.logger) { return }
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)",
            "status": "\(status.code)",
            "client": "\(origin.client)",
            "scheme": "\(origin.scheme)",
        ]
        if let applied { metadata["applied"] = .array(applied.map { .string($0) }) }
        context.logger.info("migrate call", metadata: metadata)
    }
}

/// How requests reach the server: over its own TLS or not, and which proxies' forwarding headers count.
struct Transport: Sendable {
    var tls: Bool
    var proxies: TrustedProxies

    init(config: AppConfig) {
        tls = config.servesTLS
        proxies = config.trustedProxies
    }

    /// The client's address and the scheme the request came over (`TrustedProxies.origin`).
    func origin(_ request: Request, _ context: AppRequestContext) -> (client: String, scheme: String) {
        proxies.origin(peer: context.remoteAddress?.addressText, tls: tls) {
            (
                request.headers[values: Self.forwarded], request.headers[values: Self.forwardedFor],
                request.headers[values: Self.forwardedProto]
            )
        }
    }

    static let forwarded = HTTPField.Name("Forwarded")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}

/// A method a path does not take gets 405 with `Allow` (not 404): any but GET (HEAD) and POST on the
/// migrate path, any but GET (HEAD) on the others. Added after every route, it sees only the requests
/// no route took (`buildApplication`).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// The paths that answer GET only.
    static let getOnly: Set<Substring> = ["/healthz", "/livez", "/api/auth/session"]
    /// The runs' paths (GET only), under the migrate path.
    static let runsPrefix = MigrateRoutes.path + "/runs/"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        // Every path takes GET and HEAD: a path without such a route is not found.
        let method = request.method
        if method == .get || method == .head { return try await next(request, context) }
        // One rule for a trailing slash: `/api/migrate/` is `/api/migrate`, as the router treats it.
        var path = Substring(request.uri.path)
        // By byte: counting Characters walks the whole path.
        if path.utf8.count > 1, path.utf8.last == UInt8(ascii: "/") { path = path.dropLast() }
        // A POST there is routed (`MigrateRoutes`), so never reaches this.
        if path == MigrateRoutes.path {
            return .json(.methodNotAllowed, Failure("Method not allowed"), headers: [.allow: MigrateRoutes.allow])
        }
        if path.hasPrefix(Self.runsPrefix) || Self.getOnly.contains(path) {
            return .json(.methodNotAllowed, Failure("Method not allowed"), headers: [.allow: "GET, HEAD"])
        }
        return try await next(request, context)
    }
}

/// GET, and HEAD on the same path answered as GET without the body (RFC 9110 §9.3.2: a server that
/// supports GET supports HEAD): the same handler, the response's status and headers (`Content-Length`
/// among them) kept and its body dropped.
extension Router {
    @discardableResult
    func getAndHead(
        _ path: RouterPath, use handler: @Sendable @escaping (Request, Context) async throws -> Response
    ) -> Self {
        get(path, use: handler)
        on(path, method: .head) { request, context in try await handler(request, context).createHeadResponse() }
        return self
    }
}
