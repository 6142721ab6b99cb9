import Logging
import NIOCore
import PostgresKit
import SQLKit
import Synchronization

/// A pooled PostgreSQL connection whose queries fail as soon as the connection closes under them.
///
/// PostgresNIO (1.33) hands a query to its channel with `channel.write(_, promise: nil)`. A query
/// written after the channel closed is dropped, and its promise is never completed: the caller waits
/// forever. The channel closes under a leased connection when the server ends the session (a
/// `DROP DATABASE … WITH (FORCE)`, an administrator's terminate) or when PostgresNIO itself gives up
/// on it (an error after a command's completion, which it does not expect). docs/reliability.md has
/// the capture. Here every query is raced against the channel's close: whichever comes first ends it.
/// A query without binds is run here, its rows read directly (`PostgresDirectRow`); one with binds by
/// PostgresKit, which encodes them.
struct WatchedConnection: SQLDatabaseWrapper {
    let connection: PostgresConnection
    let base: any SQLDatabase
    let watch: ConnectionWatch
    let closed: EventLoopFuture<Void>

    init(_ connection: PostgresConnection, queryLogLevel: Logger.Level?) {
        self.connection = connection
        self.base = connection.sql(queryLogLevel: queryLogLevel)
        self.watch = ConnectionWatch.of(connection)
        self.closed = connection.closeFuture
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        let result = closed.eventLoop.makePromise(of: Void.self)
        // A promise completed twice keeps its first result: the close after an answer changes nothing.
        guard let token = watch.add(result) else {
            result.fail(ConnectionClosedUnderQuery())
            return result.futureResult
        }
        let (sql, binds) = serialize(query)
        let answered: EventLoopFuture<Void>
        if binds.isEmpty {
            // As PostgresKit logs it.
            if let level = queryLogLevel {
                logger.log(level: level, "Executing query", metadata: ["sql": .string(sql), "binds": []])
            }
            answered = connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) { onRow(PostgresDirectRow($0)) }
                .map { _ in }
        } else {
            answered = base.execute(sql: query, onRow)
        }
        answered.hop(to: closed.eventLoop).cascade(to: result)
        result.futureResult.whenComplete { [watch] _ in watch.remove(token) }
        return result.futureResult
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await execute(sql: query, onRow).get()
    }
}

/// An `SQLDatabase` that is another one (`base`) in all but how it runs a query.
protocol SQLDatabaseWrapper: SQLDatabase {
    var base: any SQLDatabase { get }
}

extension SQLDatabaseWrapper {
    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }
}

/// The queries outstanding on one connection, failed together when its channel closes. One per
/// connection, with one callback on its close (a callback per query would pile up on a connection the
/// pool keeps for days).
final class ConnectionWatch: Sendable {
    private struct State {
        var closed = false
        var next = 0
        var pending: [Int: EventLoopPromise<Void>] = [:]
    }
    private let state = Mutex(State())
    private static let watches = Mutex<[ObjectIdentifier: ConnectionWatch]>([:])

    /// The watch of `connection`, made (and hooked to its close) on first use.
    static func of(_ connection: PostgresConnection) -> ConnectionWatch {
        let key = ObjectIdentifier(connection)
        let (watch, made) = watches.withLock { watches -> (ConnectionWatch, Bool) in
            if let watch = watches[key] { return (watch, false) }
            let watch = ConnectionWatch()
            watches[key] = watch
            return (watch, true)
        }
        if made {
            connection.closeFuture.whenComplete { _ in
                watches.withLock { _ = $0.removeValue(forKey: key) }
                watch.close()
            }
        }
        return watch
    }

    /// Registers an outstanding query; nil when the connection has closed already.
    func add(_ promise: EventLoopPromise<Void>) -> Int? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.pending[state.next] = promise
            return state.next
        }
    }

    func remove(_ token: Int) {
        state.withLock { _ = $0.pending.removeValue(forKey: token) }
    }

    /// Outstanding queries on this connection now.
    var outstanding: Int { state.withLock { $0.pending.count } }

    private func close() {
        let pending = state.withLock { state -> [EventLoopPromise<Void>] in
            state.closed = true
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for promise in pending { promise.fail(ConnectionClosedUnderQuery()) }
    }
}

/// The connection closed while a query was outstanding, or before it was sent: the session is gone.
struct ConnectionClosedUnderQuery: ReportsConnectionLoss, CustomStringConvertible {
    var isConnectionLoss: Bool { true }
    var description: String { "the connection closed before the query was answered" }
}
