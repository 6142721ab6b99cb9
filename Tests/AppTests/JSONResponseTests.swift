import AppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppServer

@Suite("JSON responses")
struct JSONResponseTests {
    struct Unencodable: Encodable { var value = Double.nan }

    @Test("a body that cannot be encoded is a 500 with a fixed error body, never {} under the intended status")
    func encodingFailure() {
        let response = Response.json(.ok, Unencodable())
        #expect(response.status == .internalServerError)
        #expect(response.headers[.contentType] == "application/json")
        #expect(response.headers[.cacheControl] == "no-store")
    }

    @Test("an encodable body keeps its status")
    func encodes() {
        #expect(Response.json(.created, ["a": 1]).status == .created)
    }
}
