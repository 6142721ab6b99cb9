import Logging
import NIOCore
import PostgresKit
import SQLKit

/// A pooled PostgreSQL connection whose queries fail as soon as the connection closes under them.
///
/// PostgresNIO (1.33) hands a query to its channel with `channel.write(_, promise: nil)`. A query
/// written after the channel closed is dropped, and its promise is never completed: the caller waits
/// forever. The channel closes under a leased connection when the server ends the session (a
/// `DROP DATABASE … WITH (FORCE)`, an administrator's terminate) or when PostgresNIO itself gives up
/// on it (an error after a command's completion, which it does not expect). docs/reliability.md has
/// the capture. Here every query is raced against the channel's close: whichever comes first ends it.
struct WatchedConnection: SQLDatabase {
    let base: any SQLDatabase
    let closed: EventLoopFuture<Void>

    init(_ connection: PostgresConnection, queryLogLevel: Logger.Level?) {
        self.base = connection.sql(queryLogLevel: queryLogLevel)
        self.closed = connection.closeFuture
    }

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        let result = closed.eventLoop.makePromise(of: Void.self)
        // A promise completed twice keeps its first result: the close after an answer changes nothing.
        closed.whenComplete { _ in result.fail(ConnectionClosedUnderQuery()) }
        base.execute(sql: query, onRow).hop(to: closed.eventLoop).cascade(to: result)
        return result.futureResult
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await execute(sql: query, onRow).get()
    }
}

/// The connection closed while a query was outstanding, or before it was sent: the session is gone.
struct ConnectionClosedUnderQuery: ReportsConnectionLoss, CustomStringConvertible {
    var isConnectionLoss: Bool { true }
    var description: String { "the connection closed before the query was answered" }
}
