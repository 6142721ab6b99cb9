import Crypto
import Foundation

/// The two session-token formats a Next.js frontend sets, and the cookies that carry them.
public enum SessionFormat: Sendable, Equatable, CustomStringConvertible {
    /// NextAuth.js v4: `dir` + `A256GCM`, key = HKDF(secret, "", "NextAuth.js Generated Encryption Key", 32).
    case nextAuthV4
    /// Auth.js v5: `dir` + `A256CBC-HS512` (A256GCM also read), key = HKDF(secret, salt, "Auth.js Generated Encryption Key (salt)", 64),
    /// where the salt is the cookie's name.
    case authJSV5(salt: String)

    public var description: String {
        switch self {
        case .nextAuthV4: "NextAuth.js v4"
        case .authJSV5(let salt): "Auth.js v5 (\(salt))"
        }
    }

    /// The content encryption this format writes.
    var writeEncryption: ContentEncryption {
        switch self {
        case .nextAuthV4: .a256gcm
        case .authJSV5: .a256cbcHS512
        }
    }

    /// The content encryptions this format reads.
    var readEncryptions: [ContentEncryption] {
        switch self {
        case .nextAuthV4: [.a256gcm]
        case .authJSV5: [.a256cbcHS512, .a256gcm]
        }
    }

    /// The derived encryption key for `secret`, sized for `encryption`.
    func key(secret: Secret, for encryption: ContentEncryption) -> SymmetricKey {
        let material = SymmetricKey(data: Data(secret.value.utf8))
        switch self {
        case .nextAuthV4:
            return HKDF<SHA256>.deriveKey(
                inputKeyMaterial: material, salt: Data(), info: Data("NextAuth.js Generated Encryption Key".utf8),
                outputByteCount: encryption.keyBytes
            )
        case .authJSV5(let salt):
            return HKDF<SHA256>.deriveKey(
                inputKeyMaterial: material, salt: Data(salt.utf8),
                info: Data("Auth.js Generated Encryption Key (\(salt))".utf8),
                outputByteCount: encryption.keyBytes
            )
        }
    }
}

/// JWE content encryption algorithms we implement.
enum ContentEncryption: String, Sendable, CaseIterable {
    case a256gcm = "A256GCM"
    case a256cbcHS512 = "A256CBC-HS512"

    var keyBytes: Int { self == .a256gcm ? 32 : 64 }
    var ivBytes: Int { self == .a256gcm ? 12 : 16 }
    var tagBytes: Int { self == .a256gcm ? 16 : 32 }
}

/// Session cookie names, most specific first.
public enum SessionCookie {
    public static let nextAuth = "next-auth.session-token"
    public static let nextAuthSecure = "__Secure-next-auth.session-token"
    public static let authJS = "authjs.session-token"
    public static let authJSSecure = "__Secure-authjs.session-token"

    /// Every cookie name we read, with the format its token is in.
    public static let all: [(name: String, format: SessionFormat)] = [
        (authJSSecure, .authJSV5(salt: authJSSecure)),
        (authJS, .authJSV5(salt: authJS)),
        (nextAuthSecure, .nextAuthV4),
        (nextAuth, .nextAuthV4),
    ]

    /// Browsers keep cookies up to 4096 bytes; NextAuth.js splits larger tokens into `.0`, `.1`, … chunks.
    public static let maxCookieBytes = 4096
    /// The room NextAuth.js leaves for a cookie's name and attributes.
    static let chunkBytes = maxCookieBytes - 160

    /// The cookies to set for `token`: one when it fits in a chunk, else numbered chunks (as NextAuth.js does),
    /// so a token over 4096 bytes is always split.
    public static func cookies(name: String, token: String) -> [(name: String, value: String)] {
        guard token.utf8.count > chunkBytes else { return [(name, token)] }
        var chunks: [(String, String)] = []
        var rest = Substring(token)
        while !rest.isEmpty {
            chunks.append(("\(name).\(chunks.count)", String(rest.prefix(chunkBytes))))
            rest = rest.dropFirst(chunkBytes)
        }
        return chunks
    }

    /// The token stored under `name` in a request's cookies: whole, or reassembled from its chunks.
    public static func token(named name: String, in cookies: [String: String]) -> String? {
        if let whole = cookies[name], !whole.isEmpty { return whole }
        var parts: [String] = []
        while let chunk = cookies["\(name).\(parts.count)"] {
            parts.append(chunk)
            if parts.count > 64 { return nil }
        }
        return parts.isEmpty ? nil : parts.joined()
    }

    /// Parses a `Cookie` header into name/value pairs (the first of a repeated name wins, as in browsers' order).
    public static func parse(header values: [String]) -> [String: String] {
        var cookies: [String: String] = [:]
        for (name, value) in pairs(values) where cookies[name] == nil {
            cookies[name] = value
        }
        return cookies
    }

    /// The cookie names a request sent, in order.
    public static func names(in values: [String]) -> [String] {
        pairs(values).map(\.name)
    }

    private static func pairs(_ values: [String]) -> [(name: String, value: String)] {
        var pairs: [(String, String)] = []
        for header in values {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingSpaces()
                guard let eq = trimmed.firstIndex(of: "=") else { continue }
                var value = String(trimmed[trimmed.index(after: eq)...])
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                pairs.append((String(trimmed[..<eq]), value))
            }
        }
        return pairs
    }
}
