/// Why no connection to the PostgreSQL server could be had, as the server (or the network) said it:
/// never the password.
public struct DatabaseConnectError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable {
        /// The server ended the connection attempt with an error: authentication, an unknown database
        /// or role, no connection slots left.
        case server(sqlState: String, message: String)
        /// `sslmode` requires TLS and the server does not offer it.
        case tlsUnsupported
        /// The TLS handshake failed (a certificate that cannot be verified, say).
        case tls(String)
        /// The server asks for an authentication this client cannot give (no password in DATABASE_URL).
        case authentication(String)
        /// Nothing listens on the port: the connection was refused.
        case refused
        /// The connection attempt got no answer before its timeout.
        case timedOut
        /// The host name does not resolve, or there is no route to it.
        case unreachable(String)
        /// The server accepts connections, but none of the pool's came free in time.
        case poolExhausted
    }

    public var cause: Cause
    public var host: String
    public var port: Int
    public var database: String
    /// How long the caller waited, for the causes that are retried until the wait runs out.
    public var waited: Duration?

    /// Causes worth retrying: the server may come up, the network may come back.
    var isRetried: Bool {
        switch cause {
        case .refused, .timedOut, .unreachable, .poolExhausted: true
        // The database system is starting up; too many clients (a burst others will end).
        case .server(let state, _): state == "57P03" || state == "53300"
        default: false
        }
    }

    public var description: String {
        let place = "PostgreSQL at \(host):\(port), database \(database)"
        let retried = waited.map { ", retried for \(Self.seconds($0))" } ?? ""
        switch cause {
        case .server(let state, let message): return "\(place): \(message) (SQLSTATE \(state))\(retried)"
        case .tlsUnsupported: return "\(place): the server does not support TLS, which sslmode requires"
        case .tls(let reason): return "\(place): the TLS handshake failed: \(reason)"
        case .authentication(let reason): return "\(place): \(reason)"
        case .refused: return "\(place): connection refused (nothing listens on port \(port))\(retried)"
        case .timedOut: return "\(place): the connection attempt timed out (no answer from the host)\(retried)"
        case .unreachable(let reason): return "\(place): \(reason)\(retried)"
        case .poolExhausted:
            return
                "\(place): no pooled connection came free in \(waited.map(Self.seconds) ?? "time") (the server accepts connections; all of the pool's are in use)"
        }
    }

    /// What to do about it.
    public var hint: String {
        switch cause {
        case .server(let state, _):
            switch state {
            case "28P01": return "Check the password in DATABASE_URL."
            case "28000":
                return
                    "Check the user name in DATABASE_URL, and that the server's pg_hba.conf lets it connect from this host."
            case "3D000": return "Create the database, or fix its name in DATABASE_URL."
            case "53300":
                return
                    "The server has no connection slots left: raise its max_connections, or close other clients' idle connections."
            case "57P03": return "The server is starting up or shutting down; try again once it is up."
            default: return "Check DATABASE_URL and the server's log."
            }
        case .tlsUnsupported: return "Set sslmode=disable in DATABASE_URL, or enable TLS on the server."
        case .tls:
            return
                "Check the server's certificate and sslmode in DATABASE_URL (verify-full checks the host name, verify-ca the chain, require neither)."
        case .authentication: return "Put the password in DATABASE_URL (postgres://user:password@host/database)."
        case .refused:
            return "Check the host and port in DATABASE_URL, and that PostgreSQL is running and listening there."
        case .timedOut: return "Check the host in DATABASE_URL, and that no firewall drops connections to its port."
        case .unreachable: return "Check the host name in DATABASE_URL and the network between here and the server."
        case .poolExhausted:
            return "Requests hold connections longer than expected; look for slow queries or a stuck migration."
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let tenths = (duration.milliseconds + 50) / 100
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
