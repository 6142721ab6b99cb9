import Foundation
import Logging

/// `LOG_FORMAT=json`: one JSON object per line, for log aggregation. Fields: `timestamp` (RFC 3339 with
/// milliseconds, UTC), `level`, `message`, `label`, `source`, then each metadata key as a field of its
/// own (Hummingbird's `hb.request.id` as `request_id`; an error given with the call as `error.message`
/// and `error.type`). A metadata key that would overwrite one of the fixed fields is written as
/// `metadata.<key>`. Lines are written whole, one at a time.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String
    let output: LogOutput

    public init(label: String, output: LogOutput = .standardError) {
        self.label = label
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let fixed: Set<String> = ["timestamp", "level", "message", "label", "source"]

    public func log(event: LogEvent) {
        output.write(
            Self.line(
                timestamp: Date(), level: event.level, message: "\(event.message)", label: label, source: event.source,
                metadata: event.lineMetadata(over: metadata, provider: metadataProvider)
            ))
    }

    /// One log line, newline included.
    static func line(
        timestamp: Date, level: Logger.Level, message: String, label: String, source: String, metadata: Logger.Metadata
    ) -> String {
        var text = "{\"timestamp\":\(quoted(RFC3339.string(from: timestamp))),\"level\":\(quoted(level.rawValue))"
        text += ",\"message\":\(quoted(message)),\"label\":\(quoted(label)),\"source\":\(quoted(source))"
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let field = key == "hb.request.id" ? "request_id" : (fixed.contains(key) ? "metadata.\(key)" : key)
            text += ",\(quoted(field)):\(json(value))"
        }
        return text + "}\n"
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): quoted(string)
        case .stringConvertible(let convertible): quoted(convertible.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            "{"
                + dictionary.sorted(by: { $0.key < $1.key }).map { "\(quoted($0.key)):\(json($0.value))" }.joined(
                    separator: ",") + "}"
        }
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped.
    static func quoted(_ string: String) -> String {
        var out = "\""
        out.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                out += String(format: "\\u%04x", s.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
