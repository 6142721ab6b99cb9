import Foundation
import Hummingbird

extension Response {
    /// A JSON response that no cache keeps.
    static func json(_ status: HTTPResponse.Status, _ body: some Encodable, headers extra: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

struct Failure: Encodable {
    var success = false
    var error: String
    var migration: String?

    init(_ error: String, migration: String? = nil) {
        self.error = error
        self.migration = migration
    }
}
