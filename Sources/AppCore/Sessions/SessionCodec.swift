import Crypto
import Foundation
import _CryptoExtras

/// What a session token says about its user.
public struct SessionClaims: Sendable, Equatable {
    public var name: String?
    public var email: String?
    public var picture: String?
    public var sub: String?
    public var issuedAt: Date
    public var expires: Date
    public var jti: String?
    /// The token's whole claims set as JSON, custom claims included: a renewed token carries all of it.
    public var payload: Data

    public init(
        name: String? = nil, email: String? = nil, picture: String? = nil, sub: String? = nil, issuedAt: Date,
        expires: Date, jti: String? = nil, payload: Data = Data("{}".utf8)
    ) {
        self.name = name
        self.email = email
        self.picture = picture
        self.sub = sub
        self.issuedAt = issuedAt
        self.expires = expires
        self.jti = jti
        self.payload = payload
    }
}

/// Reads and writes NextAuth.js v4 and Auth.js v5 session tokens: compact JWE with `alg: "dir"`.
///
/// Decoding never throws and never logs: a tampered, expired, wrong-key, wrong-algorithm, truncated
/// or oversized token is simply "no session".
public enum SessionCodec {
    public static let defaultMaxAge: TimeInterval = 30 * 24 * 60 * 60
    /// NextAuth.js decodes with 15 s of clock tolerance.
    public static let clockTolerance: TimeInterval = 15
    /// Larger tokens are refused before any work (16 chunks of a cookie's size).
    public static let maxTokenBytes = 16 * SessionCookie.maxCookieBytes

    /// Encodes a new token for a user; `iat`, `exp` and `jti` are set here.
    public static func encode(
        name: String?, email: String?, picture: String? = nil, sub: String? = nil,
        secret: Secret, format: SessionFormat, maxAge: TimeInterval = defaultMaxAge, now: Date = Date()
    ) throws -> String {
        var claims: [String: Any] = [:]
        if let name { claims["name"] = name }
        if let email { claims["email"] = email }
        if let picture { claims["picture"] = picture }
        claims["sub"] = sub ?? UUID().uuidString.lowercased()
        return try seal(claims, secret: secret, format: format, maxAge: maxAge, now: now)
    }

    /// The token NextAuth.js and Auth.js re-issue for a session on every read: the same claims (custom
    /// ones included), with `iat` now, `exp` now + `maxAge` and a new `jti`, under `secret`.
    public static func renew(
        _ claims: SessionClaims, secret: Secret, format: SessionFormat, maxAge: TimeInterval = defaultMaxAge,
        now: Date = Date()
    ) throws -> String {
        let fields = (try? JSONSerialization.jsonObject(with: claims.payload) as? [String: Any]) ?? [:]
        return try seal(fields, secret: secret, format: format, maxAge: maxAge, now: now)
    }

    /// Sets `iat`, `exp` and `jti` on `claims` (as both libraries' `encode` does) and encrypts them.
    private static func seal(
        _ claims: [String: Any], secret: Secret, format: SessionFormat, maxAge: TimeInterval, now: Date
    ) throws -> String {
        var claims = claims
        let iat = Int(now.timeIntervalSince1970)
        claims["iat"] = iat
        claims["exp"] = iat + Int(maxAge)
        claims["jti"] = UUID().uuidString.lowercased()
        let payload = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])

        let encryption = format.writeEncryption
        let key = format.key(secret: secret, for: encryption)
        var header = #"{"alg":"dir","enc":"\#(encryption.rawValue)""#
        if case .authJSV5 = format { header += #","kid":"\#(thumbprint(of: key))""# }
        header += "}"
        let protected = Base64URL.encode(Data(header.utf8))
        let aad = Data(protected.utf8)

        let iv: Data
        let ciphertext: Data
        let tag: Data
        switch encryption {
        case .a256gcm:
            let box = try AES.GCM.seal(payload, using: key, nonce: AES.GCM.Nonce(), authenticating: aad)
            iv = Data(box.nonce)
            ciphertext = box.ciphertext
            tag = box.tag
        case .a256cbcHS512:
            iv = Data(SecretGenerator.bytes(16))
            let cbcIV = try AES._CBC.IV(ivBytes: iv)
            let (macKey, encKey) = split(key)
            ciphertext = try AES._CBC.encrypt(payload, using: encKey, iv: cbcIV)
            tag = cbcTag(macKey: macKey, aad: aad, iv: iv, ciphertext: ciphertext)
        }
        return [protected, "", Base64URL.encode(iv), Base64URL.encode(ciphertext), Base64URL.encode(tag)].joined(
            separator: ".")
    }

    /// The claims of a valid, unexpired token, or nil.
    public static func decode(_ token: String, secret: Secret, format: SessionFormat, now: Date = Date())
        -> SessionClaims?
    {
        decode(token, secrets: [secret], format: format, now: now)
    }

    /// The claims of a valid, unexpired token encrypted under any of `secrets` (a rotation list), or nil.
    /// A token with a `kid` is tried only with the key it names, as Auth.js does; one without, with each key.
    public static func decode(_ token: String, secrets: [Secret], format: SessionFormat, now: Date = Date())
        -> SessionClaims?
    {
        guard token.utf8.count <= maxTokenBytes else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[1].isEmpty,
            let headerData = Base64URL.decode(parts[0]),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
            header["alg"] as? String == "dir",
            header["zip"] == nil, header["crit"] == nil,
            let encryption = (header["enc"] as? String).flatMap(ContentEncryption.init(rawValue:)),
            format.readEncryptions.contains(encryption),
            let iv = Base64URL.decode(parts[2]), iv.count == encryption.ivBytes,
            let ciphertext = Base64URL.decode(parts[3]),
            let tag = Base64URL.decode(parts[4]), tag.count == encryption.tagBytes
        else { return nil }

        // Auth.js names the key it used by its JWK thumbprint; another key means another secret.
        let kid = header["kid"]
        if kid != nil, !(kid is String) { return nil }
        let aad = Data(parts[0].utf8)
        var plaintext: Data?
        for secret in secrets {
            let key = format.key(secret: secret, for: encryption)
            if let kid = kid as? String, kid != thumbprint(of: key) { continue }
            plaintext = open(encryption: encryption, key: key, aad: aad, iv: iv, ciphertext: ciphertext, tag: tag)
            if plaintext != nil || kid != nil { break }
        }
        guard let plaintext,
            let claims = try? JSONSerialization.jsonObject(with: plaintext) as? [String: Any],
            let exp = (claims["exp"] as? NSNumber)?.doubleValue
        else { return nil }
        let nowSeconds = now.timeIntervalSince1970
        guard nowSeconds <= exp + clockTolerance else { return nil }
        if let nbf = (claims["nbf"] as? NSNumber)?.doubleValue, nowSeconds < nbf - clockTolerance { return nil }
        let iat = (claims["iat"] as? NSNumber)?.doubleValue ?? nowSeconds
        return SessionClaims(
            name: claims["name"] as? String, email: claims["email"] as? String, picture: claims["picture"] as? String,
            sub: claims["sub"] as? String, issuedAt: Date(timeIntervalSince1970: iat),
            expires: Date(timeIntervalSince1970: exp), jti: claims["jti"] as? String, payload: plaintext
        )
    }

    /// The plaintext when the tag authenticates under `key`, else nil.
    private static func open(
        encryption: ContentEncryption, key: SymmetricKey, aad: Data, iv: Data, ciphertext: Data, tag: Data
    ) -> Data? {
        do {
            switch encryption {
            case .a256gcm:
                let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: ciphertext, tag: tag)
                return try AES.GCM.open(box, using: key, authenticating: aad)
            case .a256cbcHS512:
                let (macKey, encKey) = split(key)
                // Authenticate before decrypting: no padding oracle.
                let expected = cbcTag(macKey: macKey, aad: aad, iv: iv, ciphertext: ciphertext)
                guard constantTimeEqual(expected, tag) else { return nil }
                return try AES._CBC.decrypt(ciphertext, using: encKey, iv: AES._CBC.IV(ivBytes: iv))
            }
        } catch {
            return nil
        }
    }

    /// RFC 7638 thumbprint of the key as an `oct` JWK, hashed with SHA-(key bits), as Auth.js computes `kid`.
    static func thumbprint(of key: SymmetricKey) -> String {
        let jwk = Data(#"{"k":"\#(key.withUnsafeBytes { Base64URL.encode(Data($0)) })","kty":"oct"}"#.utf8)
        switch key.bitCount {
        case 512: return Base64URL.encode(Data(SHA512.hash(data: jwk)))
        case 384: return Base64URL.encode(Data(SHA384.hash(data: jwk)))
        default: return Base64URL.encode(Data(SHA256.hash(data: jwk)))
        }
    }

    private static func split(_ key: SymmetricKey) -> (mac: SymmetricKey, enc: SymmetricKey) {
        key.withUnsafeBytes { bytes in
            (SymmetricKey(data: Data(bytes.prefix(32))), SymmetricKey(data: Data(bytes.suffix(32))))
        }
    }

    /// RFC 7518 §5.2.2.1: HMAC-SHA-512 over AAD || IV || ciphertext || AAD length in bits (64-bit big-endian), first 32 bytes.
    private static func cbcTag(macKey: SymmetricKey, aad: Data, iv: Data, ciphertext: Data) -> Data {
        var hmac = HMAC<SHA512>(key: macKey)
        hmac.update(data: aad)
        hmac.update(data: iv)
        hmac.update(data: ciphertext)
        withUnsafeBytes(of: UInt64(aad.count * 8).bigEndian) { hmac.update(data: Data($0)) }
        return Data(hmac.finalize()).prefix(32)
    }

    private static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}
