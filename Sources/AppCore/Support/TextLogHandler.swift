import Foundation
import Logging

/// `LOG_FORMAT=text` (the default): swift-log's `StreamLogHandler` line,
/// `<timestamp> <level> <label>: <key=value ...> [<source>] <message>`, with the metadata written out
/// only when a line is. `StreamLogHandler` renders its metadata again whenever it changes, and
/// Hummingbird gives every request's logger an id of its own: every request paid for a rendering that
/// a line seldom uses (under the 401 load, about 2% of the server's CPU, docs/benchmarks.md).
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String
    let output: LogOutput

    public init(
        label: String, output: LogOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        output.write(
            Self.line(
                timestamp: Self.timestamp(), level: event.level, label: label,
                metadata: event.lineMetadata(over: metadata, provider: metadataProvider), source: event.source,
                message: "\(event.message)"))
    }

    /// One line, newline included, as `StreamLogHandler` writes it.
    static func line(
        timestamp: String, level: Logger.Level, label: String, metadata: Logger.Metadata, source: String,
        message: String
    ) -> String {
        let pairs = metadata.sorted(by: { $0.key < $1.key }).map { " \($0.key)=\($0.value)" }.joined()
        return "\(timestamp) \(level)\(label.isEmpty ? "" : " ")\(label):\(pairs) [\(source)] \(message)\n"
    }

    /// Local time to the second, with the zone's offset (`2026-12-07T17:30:00+0000`), as `StreamLogHandler` writes it.
    static func timestamp() -> String {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let count = strftime(buffer.baseAddress!, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count), as: UTF8.self)
        }
    }
}
