import Crypto
import Foundation

/// Decides, for every request to the migration endpoint, whether it may reach the migrator.
///
/// The state is worked out once, at startup, from the config: a missing `MIGRATION_SECRET`, or one
/// equal to a session-signing key (`AppConfig.sessionKeys`), makes the endpoint misconfigured, and no
/// request gets past that. There is no fallback to any other variable.
public struct MigrationGate: Sendable {
    /// Why the endpoint cannot be used. The one place this rule is decided: the startup check
    /// `migration-secret.*` reports exactly what the gate found.
    public enum Misconfiguration: Sendable, Equatable {
        /// `MIGRATION_SECRET` is unset or empty.
        case missing
        /// `MIGRATION_SECRET` equals these session-signing keys (variable names, never values).
        case reused(as: [String])
    }

    public enum State: Sendable, Equatable {
        case misconfigured(Misconfiguration)
        case ready
    }

    public enum Decision: Sendable, Equatable {
        /// 503: the endpoint cannot be used until the configuration is fixed.
        case misconfigured
        /// 401: missing, malformed or wrong credentials.
        case unauthorized
        /// The request may run migrations.
        case authorized
    }

    public let state: State
    /// SHA-256 of the migration secret; the secret itself is not kept here.
    private let expected: [UInt8]?

    public init(config: AppConfig) {
        self.init(migrationSecret: config.migrationSecret, sessionKeys: config.sessionKeys)
    }

    public init(migrationSecret: Secret?, sessionKeys: [(variable: String, secret: Secret)]) {
        guard let migrationSecret else {
            self.state = .misconfigured(.missing)
            self.expected = nil
            return
        }
        // Every key is compared (no early exit), so the answer names each variable it equals.
        let reusedAs = sessionKeys.filter { migrationSecret.matches($0.secret) }.map(\.variable)
        guard reusedAs.isEmpty else {
            self.state = .misconfigured(.reused(as: reusedAs))
            self.expected = nil
            return
        }
        self.state = .ready
        self.expected = Array(migrationSecret.digest)
    }

    /// Decides on the raw `Authorization` header values of a request (nil or empty when absent).
    /// Only the header is read: a token in the query string or the body never counts.
    public func decide(authorization: [String]) -> Decision {
        guard let expected else { return .misconfigured }
        // More than one Authorization header is ambiguous; refuse it.
        guard authorization.count == 1, let token = Self.bearerToken(authorization[0]) else { return .unauthorized }
        // Digests of equal length, compared in constant time: neither content nor length leaks.
        return Self.equalInConstantTime(sha256(ofUTF8: token), expected) ? .authorized : .unauthorized
    }

    /// True when the two digests are equal, found by looking at every byte whatever they hold (the
    /// differences OR-ed together, no early exit). Crypto's own comparison with `Data` or `[UInt8]`
    /// went through a generic walk of their regions, about two fifths of the gate's time on each request.
    static func equalInConstantTime(_ digest: SHA256.Digest, _ expected: [UInt8]) -> Bool {
        digest.withUnsafeBytes { got in
            expected.withUnsafeBufferPointer { want in
                guard got.count == want.count else { return false }
                var difference: UInt8 = 0
                for index in 0..<want.count { difference |= got[index] ^ want[index] }
                return difference == 0
            }
        }
    }

    /// The RFC 6750 credentials in `Bearer <b64token>`, or nil when the value is not of that form.
    /// The scheme is case-insensitive; `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    public static func bearerToken(_ header: String) -> Substring? {
        let utf8 = header.utf8
        guard utf8.count > 7 else { return nil }
        var index = utf8.startIndex
        for letter in "bearer".utf8 {
            // ASCII letters, either case: setting bit 0x20 turns an upper-case letter into its lower case.
            guard utf8[index] | 0x20 == letter else { return nil }
            index = utf8.index(after: index)
        }
        guard utf8[index] == UInt8(ascii: " ") else { return nil }
        // By byte throughout, as below: a walk by Character would break graphemes for nothing.
        while index < utf8.endIndex, utf8[index] == UInt8(ascii: " ") { index = utf8.index(after: index) }
        let rest = header[index...]
        // Nothing after the spaces, or padding alone, is not a token.
        guard let first = rest.utf8.first, first != UInt8(ascii: "=") else { return nil }
        var seenPadding = false
        for byte in rest.utf8 {
            switch byte {
            case UInt8(ascii: "="):
                seenPadding = true
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
                UInt8(ascii: "/"):
                if seenPadding { return nil }
            default:
                return nil
            }
        }
        return rest
    }
}
