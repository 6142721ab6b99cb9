import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

/// HEAD on every GET route answers as GET, without a body (RFC 9110 §9.3.2).
@Suite("HEAD answers as GET without the body", .dropsTestDatabases)
struct HeadTests {
    @Test(
        "each GET route: HEAD gives GET's status and headers, Content-Length included, and no body",
        arguments: [
            ("/livez", false), ("/healthz", false), ("/api/migrate", false), ("/api/migrate", true),
            ("/api/migrate/runs/none", true), ("/api/auth/session", false), ("/no/such/path", false),
        ])
    func headAsGet(_ uri: String, _ authorised: Bool) async throws {
        try await AppHarness.run(.sqlite) { client, _ in
            let headers: HTTPFields = authorised ? authHeader : [:]
            let get = try await client.execute(uri: uri, method: .get, headers: headers)
            let head = try await client.execute(uri: uri, method: .head, headers: headers)
            #expect(head.status == get.status, "\(uri)")
            #expect(head.body.readableBytes == 0)
            #expect(get.body.readableBytes > 0 || uri == "/no/such/path")
            #expect(head.headers[.contentLength] == String(get.body.readableBytes))
            for name in [HTTPField.Name.contentType, .cacheControl, .wwwAuthenticate] {
                #expect(head.headers[name] == get.headers[name], "\(name) on \(uri)")
            }
        }
    }
}
