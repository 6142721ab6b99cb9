import Foundation

/// Where the data lives, parsed from `DATABASE_URL`.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// The default: an SQLite file under `./data/`, created on demand.
    public static let defaultSQLitePath = "data/app.sqlite"

    public var engine: SQLEngine {
        switch self {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let pg): pg.description
        }
    }

    /// Parses a `DATABASE_URL` value. Errors never contain the URL, which may hold a password.
    public init(url raw: String?) throws {
        guard let raw = raw?.trimmingSpaces(), !raw.isEmpty else {
            self = .sqlite(path: Self.defaultSQLitePath)
            return
        }
        guard let schemeEnd = Self.schemeEnd(raw) else {
            throw ConfigError.invalidDatabaseURL("no scheme (sqlite:// or postgres://)")
        }
        let scheme = raw[..<schemeEnd.lowerBound].lowercased()
        let rest = String(raw[schemeEnd.upperBound...])
        switch scheme {
        case "sqlite":
            // sqlite:///abs/path keeps its leading slash; sqlite://relative/path is relative to the working directory.
            let path = rest.removingPercentEncodingBytes() ?? rest
            guard !path.isEmpty, path != "/" else { throw ConfigError.invalidDatabaseURL("the SQLite path is empty") }
            self = .sqlite(path: path)
        case "postgres", "postgresql":
            self = .postgres(try PostgresLocation(raw))
        default:
            throw ConfigError.invalidDatabaseURL("unsupported scheme \"\(scheme)\"")
        }
    }
}

extension DatabaseLocation {
    /// Where the first `://` is, found by byte.
    static func schemeEnd(_ raw: String) -> Range<String.Index>? {
        let bytes = raw.utf8
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index...].starts(with: "://".utf8) { return index..<bytes.index(index, offsetBy: 3) }
            index = bytes.index(after: index)
        }
        return nil
    }
}

/// Equality is synthesized over every field; the password compares through `Secret`'s constant-time `==`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: Secret?
    public var database: String
    public var sslMode: SSLMode

    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":<redacted>")@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    init(_ raw: String) throws {
        guard let components = URLComponents(string: raw) else {
            throw ConfigError.invalidDatabaseURL("not a valid URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigError.invalidDatabaseURL("no host")
        }
        guard let user = components.percentEncodedUser, !user.isEmpty else {
            throw ConfigError.invalidDatabaseURL("no user name")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw ConfigError.invalidDatabaseURL("port out of range")
        }
        let database = String(components.percentEncodedPath.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw ConfigError.invalidDatabaseURL("no database name")
        }
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw ConfigError.invalidDatabaseURL(
                        "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            default:
                throw ConfigError.invalidDatabaseURL("unsupported parameter \"\(item.name)\"")
            }
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        // Decoded by byte (`removingPercentEncodingBytes`): Foundation's decoding took 0.4 ms of a
        // one-shot command's start (by hand, timed in the process). A part that does not decode to
        // UTF-8 is kept as written.
        self.username = user.removingPercentEncodingBytes() ?? user
        self.password = Secret(components.percentEncodedPassword.map { $0.removingPercentEncodingBytes() ?? $0 })
        self.database = database.removingPercentEncodingBytes() ?? database
        self.sslMode = sslMode
    }
}
