import Foundation
import Logging
import Synchronization
import Testing

@testable import AppCore

@Suite("LOG_FORMAT=json")
struct LogFormatTests {
    /// Lines written by a JSON handler, parsed back.
    final class Lines: Sendable {
        private let storage = Mutex<[String]>([])
        var output: LogOutput { LogOutput { line in self.storage.withLock { $0.append(line) } } }
        var text: [String] { storage.withLock { $0 } }
        func objects() throws -> [[String: Any]] {
            try text.map { line in
                #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1, "one object per line")
                return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
        }
    }

    @Test(
        "one JSON object per line: timestamp, level, message, label, source, each metadata key a field, the request id as request_id"
    )
    func fields() throws {
        let lines = Lines()
        var handler = JSONLogHandler(label: "app", output: lines.output)
        handler.logLevel = .debug
        handler[metadataKey: "hb.request.id"] = "req-42"
        var logger = Logger(label: "app") { _ in handler }
        logger.logLevel = .debug
        logger.info(
            "migrate call",
            metadata: [
                "status": "200", "applied": .array(["1_a", "2_b"]), "nested": .dictionary(["k": "v"]),
                "message": "shadowed",
            ])
        logger.debug("below info")
        let objects = try lines.objects()
        #expect(objects.count == 2)
        let first = objects[0]
        #expect(
            first["level"] as? String == "info" && first["message"] as? String == "migrate call"
                && first["label"] as? String == "app")
        #expect(first["request_id"] as? String == "req-42" && first["hb.request.id"] == nil)
        #expect(first["status"] as? String == "200")
        #expect(first["applied"] as? [String] == ["1_a", "2_b"])
        #expect(first["nested"] as? [String: String] == ["k": "v"])
        #expect(
            first["metadata.message"] as? String == "shadowed",
            "a key that would overwrite a fixed field is kept under metadata.")
        #expect((first["source"] as? String)?.isEmpty == false)
        let stamp = try #require(first["timestamp"] as? String)
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        #expect(iso.date(from: stamp).map { abs($0.timeIntervalSinceNow) < 60 } == true, "\(stamp)")
        #expect(objects[1]["level"] as? String == "debug")
    }

    @Test("quotes, backslashes, newlines, control characters and non-ASCII survive the round trip")
    func escaping() throws {
        let lines = Lines()
        let logger = Logger(label: "x\"y") { label in JSONLogHandler(label: label, output: lines.output) }
        let nasty = "a \"quoted\" \\ path\nsecond line\t\u{01}\u{1F} héllo ✓ \u{7F}"
        logger.error("\(nasty)", metadata: ["field": "\(nasty)"])
        let object = try #require(try lines.objects().first)
        #expect(object["message"] as? String == nasty)
        #expect(object["field"] as? String == nasty)
        #expect(object["label"] as? String == "x\"y")
    }

    @Test("an error given with a call is written as error.message and error.type, as in the text lines")
    func error() throws {
        struct Refused: Error, CustomStringConvertible {
            var description: String { "refused by the test" }
        }
        let lines = Lines()
        let logger = Logger(label: "app") { label in JSONLogHandler(label: label, output: lines.output) }
        logger.error("failed", error: Refused())
        let object = try #require(try lines.objects().first)
        #expect(object["message"] as? String == "failed")
        #expect(object["error.message"] as? String == "refused by the test")
        #expect((object["error.type"] as? String)?.hasSuffix(".Refused") == true, "\(object)")
    }

    @Test("LOG_FORMAT is text or json; anything else stops startup with a clear error")
    func config() throws {
        #expect(try AppConfig(variables: [:]).logFormat == .text)
        #expect(try AppConfig(variables: ["LOG_FORMAT": "JSON"]).logFormat == .json)
        #expect(throws: ConfigError.invalidLogFormat) { try AppConfig(variables: ["LOG_FORMAT": "xml"]) }
    }

    @Test("app serve with LOG_FORMAT=json writes nothing but JSON lines, the migrate call's among them")
    func server() async throws {
        let dir = try TempDir()
        let server = try await ServerProcess.start(
            environment: [
                "APP_ENV": "development", "LOG_FORMAT": "json", "MIGRATION_SECRET": Secrets.migration,
                "NEXTAUTH_SECRET": Secrets.session,
            ], directory: dir.url)
        let (status, _) = try await get(
            "\(server.baseURL)/api/migrate", headers: [("Authorization", "Bearer \(Secrets.migration)")], method: .POST)
        #expect(status == 200)
        #expect(await server.stop() == 0)
        let lines = server.output.split(separator: "\n")
        #expect(lines.count >= 3)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            if let object { objects.append(object) }
        }
        let call = try #require(objects.first { $0["message"] as? String == "migrate call" })
        #expect(call["status"] as? String == "200" && call["client"] as? String == "127.0.0.1")
        #expect((call["request_id"] as? String)?.isEmpty == false)
        #expect(!server.output.contains(Secrets.migration))
    }
}
