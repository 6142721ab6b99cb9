import AppCore
import Foundation
import Hummingbird

/// The API's JSON, as every endpoint writes it; `app migrate --status --format json` prints the same.
public func apiJSON(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return try encoder.encode(value)
}

extension Response {
    /// A JSON response that no cache keeps. A body that cannot be encoded is a server error (500),
    /// never an empty object under the intended status.
    static func json(_ status: HTTPResponse.Status, _ body: some Encodable, headers extra: HTTPFields = [:]) -> Response
    {
        guard let data = try? apiJSON(body) else {
            return .json(.internalServerError, data: Data(Self.encodingFailure.utf8))
        }
        return .json(status, data: data, headers: extra)
    }

    /// A JSON response from a body already encoded.
    static func json(_ status: HTTPResponse.Status, data: Data, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static let encodingFailure = #"{"success":false,"error":"Internal server error"}"#
}

struct Failure: Encodable {
    var success = false
    var error: String
    var migration: String?
    /// For "Migration history belongs to another tool": the tool whose history the database holds, when known.
    var tool: String?
    /// For "Migration blocked by a lock": the PostgreSQL process it waited for, when seen.
    var blockedBy: BlockedBy?

    struct BlockedBy: Encodable {
        var pid: Int
        var runningMs: Int64
    }

    /// For "Migration refused by lint": the rules (squawk's names) the migration breaks.
    var rules: [String]?

    init(
        _ error: String, migration: String? = nil, tool: String? = nil, blockedBy: LockBlocker? = nil,
        rules: [String]? = nil
    ) {
        self.error = error
        self.migration = migration
        self.tool = tool
        self.rules = rules
        self.blockedBy = blockedBy.map { BlockedBy(pid: $0.pid, runningMs: $0.runningMs) }
    }
}
