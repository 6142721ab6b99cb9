import Crypto
import Foundation

/// A credential read from configuration.
///
/// Its `description` and `debugDescription` never show the value, so a secret that slips into
/// string interpolation, a log line or a crash dump prints as `<redacted>`.
/// Comparison goes through SHA-256 digests in constant time, so neither content nor length leaks.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The raw value. Read it only where the secret is used for its purpose (signing, a bearer check, a connection).
    public let value: String

    /// Makes a secret, or nil for an empty value: an empty value means "not set" for every secret.
    public init?(_ value: String?) {
        guard let value, !value.isEmpty else { return nil }
        self.value = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "Secret(<redacted>)" }

    /// SHA-256 of the value; comparisons use this so the length of the value does not leak.
    public var digest: SHA256.Digest { sha256(ofUTF8: value) }

    /// Constant-time equality on digests.
    public func matches(_ other: Secret) -> Bool {
        digest == other.digest
    }

    /// The same constant-time comparison, so a type holding a secret can synthesize its `==`.
    public static func == (a: Secret, b: Secret) -> Bool {
        a.matches(b)
    }
}
