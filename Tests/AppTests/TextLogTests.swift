import Foundation
import Logging
import Synchronization
import Testing

@testable import AppCore

@Suite("LOG_FORMAT=text")
struct TextLogTests {
    /// What one handler wrote, as it wrote it.
    final class Written: Sendable {
        private let storage = Mutex<[String]>([])
        func append(_ text: String) { storage.withLock { $0.append(text) } }
        var text: [String] { storage.withLock { $0 } }
        var output: LogOutput { LogOutput { self.append($0) } }
    }

    /// `StreamLogHandler`'s stream, into `Written`.
    struct Stream: TextOutputStream, Sendable {
        let into: Written
        mutating func write(_ string: String) { into.append(string) }
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "refused by the test" }
    }

    /// The same calls to a logger of each handler: its own metadata (a request id as Hummingbird sets
    /// it), a provider's, a call's, and an error.
    func log(_ make: (String, Logger.MetadataProvider) -> any LogHandler) {
        let provider = Logger.MetadataProvider { ["provided": "by the provider", "shared": "provider's"] }
        var logger = Logger(label: "app") { label in make(label, provider) }
        logger.logLevel = .debug
        logger[metadataKey: "hb.request.id"] = .stringConvertible(42)
        logger[metadataKey: "shared"] = "handler's"
        logger.info("migrate call", metadata: ["status": "401", "applied": .array(["1_a", "2_b"])])
        // One key: a dictionary's own order is its storage's, not the same from one instance to the next.
        logger.debug("nested", metadata: ["nested": .dictionary(["k": .array(["x"])])])
        logger.error("failed", error: Refused())
        var bare = Logger(label: "") { label in make(label, Logger.MetadataProvider { [:] }) }
        bare.logLevel = .info
        bare.warning("no metadata, no label")
        bare.debug("below the level")
    }

    @Test("each line is StreamLogHandler's for the same call, its timestamp in the same format")
    func sameAsStreamLogHandler() throws {
        let ours = Written()
        let theirs = Written()
        log { label, provider in TextLogHandler(label: label, output: ours.output, metadataProvider: provider) }
        log { label, provider in
            StreamLogHandler(label: label, stream: Stream(into: theirs), metadataProvider: provider)
        }
        #expect(ours.text.count == 4)
        // The timestamp (to the second) may differ by one between the two runs; the rest may not.
        func rest(_ line: String) -> Substring { line.drop { $0 != " " } }
        #expect(ours.text.map(rest) == theirs.text.map(rest))
        let first =
            " info app: applied=[\"1_a\", \"2_b\"] hb.request.id=42 provided=by the provider"
            + " shared=provider's status=401 [AppTests] migrate call\n"
        #expect(ours.text.first.map { String(rest($0)) } == first)
        #expect(ours.text.last.map(rest) == " warning: [AppTests] no metadata, no label\n")
        let stamp = try #require(ours.text.first?.split(separator: " ").first)
        #expect(stamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}/) != nil, "\(stamp)")
        #expect(ours.text.allSatisfy { $0.hasSuffix("\n") && $0.filter { $0 == "\n" }.count == 1 })
    }

    @Test("metadata is written out only when a line is: setting it calls nothing of the value")
    func metadataRenderedWhenWritten() {
        final class Counted: CustomStringConvertible, Sendable {
            let count = Mutex(0)
            var description: String {
                count.withLock { $0 += 1 }
                return "counted"
            }
        }
        let written = Written()
        let value = Counted()
        var logger = Logger(label: "app") { label in TextLogHandler(label: label, output: written.output) }
        logger.logLevel = .info
        for index in 0..<10 { logger[metadataKey: "id\(index)"] = .stringConvertible(value) }
        #expect(value.count.withLock { $0 } == 0)
        logger.debug("not written")
        #expect(value.count.withLock { $0 } == 0)
        logger.info("written")
        #expect(value.count.withLock { $0 } == 10)
        #expect(written.text.count == 1)
    }
}
