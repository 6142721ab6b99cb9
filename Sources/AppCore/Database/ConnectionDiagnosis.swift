import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import Synchronization

/// Why the pool lends no connection. PostgresNIO's pool retries a failed connection in the background
/// and tells a waiting caller only that its wait ran out; this makes one connection of its own, as the
/// pool would, and keeps what the server (or the network) answered. One attempt at a time, shared by
/// every caller waiting meanwhile, so a crowd of waiting requests costs the server one connection.
actor ConnectionDiagnosis {
    enum ProbeResult: Sendable {
        /// The server accepted a connection.
        case connected
        case failed(DatabaseConnectError)
        /// No answer yet by the caller's deadline (the attempt goes on, for the next caller).
        case unanswered
    }

    private let location: PostgresLocation
    private let tls: (configuration: TLSConfiguration?, required: Bool)
    private let logger: Logger
    private var latest: (at: ContinuousClock.Instant, keep: Duration, result: ProbeResult)?
    private var inFlight: Task<ProbeResult, Never>?

    init(
        _ location: PostgresLocation,
        tls: (configuration: TLSConfiguration?, required: Bool, client: PostgresClient.Configuration.TLS),
        logger: Logger
    ) {
        self.location = location
        self.tls = (tls.configuration, tls.required)
        self.logger = logger
    }

    nonisolated func failure(_ cause: DatabaseConnectError.Cause) -> DatabaseConnectError {
        DatabaseConnectError(cause: cause, host: location.host, port: location.port, database: location.database)
    }

    /// Whether the server accepts a connection now, and if not why. A result younger than `maxAge`
    /// is reused (a refusal the server gave for good, such as a wrong password, for 5 s); an attempt in
    /// flight is joined. Returns by `deadline` whatever happens: `.unanswered` when the attempt is
    /// still going (a host that swallows packets, a server that never finishes its handshake).
    func probe(maxAge: Duration, timeout: Duration, until deadline: ContinuousClock.Instant) async -> ProbeResult {
        if let latest, ContinuousClock.now - latest.at < latest.keep { return latest.result }
        let attempt: Task<ProbeResult, Never>
        if let inFlight {
            attempt = inFlight
        } else {
            attempt = Task { await self.attempt(timeout: timeout) }
            inFlight = attempt
            Task { self.finished(await attempt.value, maxAge: maxAge) }
        }
        return await Self.value(of: attempt, until: deadline)
    }

    private func finished(_ result: ProbeResult, maxAge: Duration) {
        inFlight = nil
        var keep = maxAge
        if case .failed(let problem) = result, !problem.isRetried { keep = .seconds(5) }
        latest = (ContinuousClock.now, keep, result)
    }

    /// The task's value, or `.unanswered` at `deadline`, without waiting for the task any longer.
    private static func value(of task: Task<ProbeResult, Never>, until deadline: ContinuousClock.Instant) async
        -> ProbeResult
    {
        let pending = Mutex<CheckedContinuation<ProbeResult, Never>?>(nil)
        let resume = { @Sendable (result: ProbeResult) in
            pending.withLock { continuation in
                continuation?.resume(returning: result)
                continuation = nil
            }
        }
        return await withCheckedContinuation { continuation in
            pending.withLock { $0 = continuation }
            let timer = Task {
                try? await Task.sleep(until: deadline)
                resume(.unanswered)
            }
            Task {
                resume(await task.value)
                timer.cancel()
            }
        }
    }

    private func attempt(timeout: Duration) async -> ProbeResult {
        do {
            let connection = try await connect(timeout: timeout)
            try? await connection.close()
            return .connected
        } catch {
            return .failed(failure(Self.cause(of: error)))
        }
    }

    /// The server process id behind a connection of its own, outside the pool (whose connections may
    /// all be in use): how a transaction pooler is recognised (`PostgresEngine.refuseTransactionPooler`).
    func separateBackendPID() async throws -> Int {
        let connection = try await connect(timeout: PostgresEngine.leaseTimeout)
        do {
            var pid = -1
            for try await row in try await connection.query("SELECT pg_backend_pid()", logger: logger) {
                pid = Int(try row.decode(Int32.self))
            }
            try? await connection.close()
            return pid
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private func connect(timeout: Duration) async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password?.value, database: location.database, tls: try connectionTLS()
        )
        configuration.options.connectTimeout = .milliseconds(timeout.milliseconds)
        return try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        guard let configuration = tls.configuration else { return .disable }
        let context = try NIOSSLContext(configuration: configuration)
        return tls.required ? .require(context) : .prefer(context)
    }

    /// What an error from connecting means, in the user's terms.
    static func cause(of error: any Error) -> DatabaseConnectError.Cause {
        if let pg = error as? PSQLError {
            switch pg.code {
            case .server:
                return .server(
                    sqlState: pg.serverInfo?[.sqlState] ?? "?",
                    message: pg.serverInfo?[.message] ?? "the server refused the connection")
            case .sslUnsupported:
                return .tlsUnsupported
            case .failedToAddSSLHandler:
                return .tls(pg.underlying.map { "\($0)" } ?? "the TLS handler could not be set up")
            case .authMechanismRequiresPassword:
                return .authentication("the server asks for a password and DATABASE_URL has none")
            case .unsupportedAuthMechanism:
                return .authentication("the server asks for an authentication method this client does not support")
            case .saslError:
                return .authentication("SCRAM authentication failed")
            case .connectionError, .serverClosedConnection, .uncleanShutdown:
                return pg.underlying.map(network) ?? .unreachable("the connection closed")
            default:
                return .unreachable("\(pg.code)")
            }
        }
        return network(error)
    }

    private static func network(_ error: any Error) -> DatabaseConnectError.Cause {
        if case ChannelError.connectTimeout = error { return .timedOut }
        if let ssl = error as? NIOSSLError { return .tls("\(ssl)") }
        if let connection = error as? NIOConnectionError {
            if let failure = connection.connectionErrors.first { return network(failure.error) }
            if connection.dnsAError != nil || connection.dnsAAAAError != nil {
                return .unreachable("the host name does not resolve")
            }
            return .unreachable("no address to connect to")
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return .refused
            case ETIMEDOUT: return .timedOut
            case EHOSTUNREACH, ENETUNREACH: return .unreachable("no route to the host")
            default: return .unreachable("\(io)")
            }
        }
        return .unreachable("\(error)")
    }
}
