import Foundation

/// Builds Sentry envelopes: a header line, an item header line, and the event payload.
public enum SentryEnvelope {
    public struct Event: Sendable {
        public var eventID: String
        public var timestamp: Date
        public var logger: String
        public var message: String
        public var environment: String
        public var release: String?
        public var serverName: String
        public var tags: [String: String]
    }

    /// A new event id: 32 lowercase hex characters.
    public static func newEventID() -> String {
        SecretGenerator.hex(byteCount: 16)
    }

    public static func encode(_ event: Event, dsn: SentryDSN, sentAt: Date = Date()) throws -> Data {
        var payloadObject: [String: Any] = [
            "event_id": event.eventID,
            "timestamp": RFC3339.string(from: event.timestamp),
            "platform": "other",
            "level": "error",
            "logger": event.logger,
            "message": ["formatted": event.message],
            "environment": event.environment,
            "server_name": event.serverName,
            "tags": event.tags,
        ]
        if let release = event.release { payloadObject["release"] = release }
        let payload = try JSONSerialization.data(
            withJSONObject: payloadObject, options: [.sortedKeys, .withoutEscapingSlashes])
        let header = try JSONSerialization.data(
            withJSONObject: [
                "event_id": event.eventID,
                "sent_at": RFC3339.string(from: sentAt),
                "dsn": dsn.publicDSN,
            ], options: [.sortedKeys, .withoutEscapingSlashes])
        let itemHeader = try JSONSerialization.data(
            withJSONObject: [
                "type": "event",
                "length": payload.count,
            ] as [String: Any], options: [.sortedKeys])
        var envelope = Data()
        for part in [header, itemHeader, payload] {
            envelope.append(part)
            envelope.append(UInt8(ascii: "\n"))
        }
        return envelope
    }
}
