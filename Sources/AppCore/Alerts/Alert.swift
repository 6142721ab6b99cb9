/// Something that needs an operator's attention now.
public struct Alert: Sendable, Equatable {
    /// The check id, sent as the `check` tag.
    public var checkID: String
    public var message: String

    public init(checkID: String, message: String) {
        self.checkID = checkID
        self.message = message
    }
}

/// Where alerts go. The Sentry client is the real one; a deployment without a DSN has none.
public protocol AlertSink: Sendable {
    /// Sends the alert, or logs why it could not; never throws and never holds the caller past its own timeout.
    func send(_ alert: Alert) async
}
