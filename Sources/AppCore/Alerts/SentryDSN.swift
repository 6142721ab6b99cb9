import Foundation

/// A parsed Sentry DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{/path}/{project_id}`.
public struct SentryDSN: Sendable, Equatable, CustomStringConvertible {
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        public var description: String {
            switch self {
            case .malformed(let why): "SENTRY_DSN is malformed: \(why)"
            }
        }
    }

    public let scheme: String
    public let publicKey: String
    public let host: String
    public let port: Int?
    public let path: String
    public let projectID: String

    public init(_ raw: String) throws {
        guard let url = URLComponents(string: raw.trimmingSpaces()) else {
            throw ParseError.malformed("not a URL")
        }
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw ParseError.malformed("the scheme must be http or https")
        }
        guard let key = url.user, !key.isEmpty else { throw ParseError.malformed("no public key") }
        guard let host = url.host, !host.isEmpty else { throw ParseError.malformed("no host") }
        var segments = url.path.split(separator: "/", omittingEmptySubsequences: true)
        guard let project = segments.popLast(), !project.isEmpty else { throw ParseError.malformed("no project id") }
        guard url.query == nil, url.fragment == nil else { throw ParseError.malformed("unexpected query or fragment") }
        self.scheme = scheme
        self.publicKey = key
        self.host = host
        self.port = url.port
        self.path = segments.isEmpty ? "" : "/" + segments.joined(separator: "/")
        self.projectID = String(project)
    }

    private var origin: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostPart)\(port.map { ":\($0)" } ?? "")"
    }

    /// Where envelopes go: `{scheme}://{host}[:{port}]{/path}/api/{project_id}/envelope/`.
    public var envelopeURL: String { "\(origin)\(path)/api/\(projectID)/envelope/" }

    /// The DSN without its deprecated secret part, as SDKs put it in the envelope header.
    public var publicDSN: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(publicKey)@\(hostPart)\(port.map { ":\($0)" } ?? "")\(path)/\(projectID)"
    }

    /// Keys are not secrets in the sense of the migration secret, but keep them out of logs anyway.
    public var description: String { "SentryDSN(\(origin)\(path)/\(projectID))" }
}
