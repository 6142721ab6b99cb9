import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// Log lines captured in memory, for asserting what was (and was not) logged.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: String
        var text: String { "\(level) \(message) \(metadata)" }
    }

    private let storage = Mutex<[Line]>([])

    var lines: [Line] { storage.withLock { $0 } }
    var text: String { lines.map(\.text).joined(separator: "\n") }

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    func append(_ line: Line) {
        SecretSweep.said(line.text, by: "log")
        storage.withLock { $0.append(line) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let extra = event.metadata { all.merge(extra) { $1 } }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append(Line(level: event.level, message: "\(event.message)", metadata: rendered))
        }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "quiet") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()
