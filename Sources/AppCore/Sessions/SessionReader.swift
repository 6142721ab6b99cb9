import Foundation

/// Finds the session in a request's cookies, with the keys each format uses, and renews it as the
/// libraries do. NextAuth.js v4 has one key, `NEXTAUTH_SECRET`; Auth.js v5 has a list
/// (`AppConfig.authJSKeys`: `AUTH_SECRET_3, _2, _1, AUTH_SECRET`, falling back to `NEXTAUTH_SECRET`),
/// whose first key encrypts and any key decrypts. `MIGRATION_SECRET` plays no part.
public struct SessionReader: Sendable {
    let nextAuthSecret: Secret?
    let authJSKeys: [Secret]

    public init(config: AppConfig) {
        self.init(nextAuthSecret: config.nextAuthSecret, authJSKeys: config.authJSKeys)
    }

    public init(nextAuthSecret: Secret?, authJSKeys: [Secret]) {
        self.nextAuthSecret = nextAuthSecret
        self.authJSKeys = authJSKeys
    }

    /// The reader for one `AUTH_SECRET` (falling back to `NEXTAUTH_SECRET`) and no rotation list.
    public init(nextAuthSecret: Secret?, authSecret: Secret?) {
        self.init(nextAuthSecret: nextAuthSecret, authJSKeys: [authSecret ?? nextAuthSecret].compactMap { $0 })
    }

    /// Every key that decrypts `format`'s tokens, the encrypting one first.
    public func keys(for format: SessionFormat) -> [Secret] {
        switch format {
        case .nextAuthV4: [nextAuthSecret].compactMap { $0 }
        case .authJSV5: authJSKeys
        }
    }

    /// The key new tokens of `format` are encrypted with.
    public func secret(for format: SessionFormat) -> Secret? {
        keys(for: format).first
    }

    /// A session found in a request: its claims, the cookie that carried it, and every cookie of that
    /// name the request sent (the whole one and any `.N` chunks), so a renewal can clear the stale ones.
    public struct Found: Sendable {
        public var claims: SessionClaims
        public var cookieName: String
        public var format: SessionFormat
        public var sentCookieNames: [String]
    }

    public func find(cookieHeaders: [String], now: Date = Date()) -> Found? {
        let cookies = SessionCookie.parse(header: cookieHeaders)
        for (name, format) in SessionCookie.all {
            let keys = keys(for: format)
            guard !keys.isEmpty, let token = SessionCookie.token(named: name, in: cookies),
                let claims = SessionCodec.decode(token, secrets: keys, format: format, now: now)
            else { continue }
            let sent = SessionCookie.names(in: cookieHeaders).filter { $0 == name || $0.hasPrefix(name + ".") }
            return Found(claims: claims, cookieName: name, format: format, sentCookieNames: sent)
        }
        return nil
    }

    public func session(cookieHeaders: [String], now: Date = Date()) -> SessionClaims? {
        find(cookieHeaders: cookieHeaders, now: now)?.claims
    }

    /// The `Set-Cookie` values NextAuth.js v4 and Auth.js v5 send when they read a JWT session: the same
    /// claims with a fresh `exp` (now + `maxAge`), encrypted with the format's current key, under the same
    /// cookie name, chunked when large, each expiring with the session; then every other cookie of that
    /// name the request sent, cleared (`Max-Age=0`), as the libraries' session store clears stale chunks.
    public func renewal(of found: Found, maxAge: TimeInterval = SessionCodec.defaultMaxAge, now: Date = Date()) throws
        -> [SetCookie]
    {
        guard let secret = secret(for: found.format) else { return [] }
        let token = try SessionCodec.renew(found.claims, secret: secret, format: found.format, maxAge: maxAge, now: now)
        let expires = now.addingTimeInterval(maxAge)
        let secure = found.cookieName.hasPrefix("__Secure-")
        let fresh = SessionCookie.cookies(name: found.cookieName, token: token).map {
            SetCookie(name: $0.name, value: $0.value, expires: expires, secure: secure)
        }
        let written = Set(fresh.map(\.name))
        var seen = Set<String>()
        let cleared = found.sentCookieNames.filter { !written.contains($0) && seen.insert($0).inserted }.map {
            SetCookie(name: $0, value: "", expires: nil, secure: secure)
        }
        return fresh + cleared
    }
}

/// One session `Set-Cookie` value with the attributes NextAuth.js and Auth.js give their session cookie:
/// `Path=/`, `HttpOnly`, `SameSite=Lax`, `Secure` for `__Secure-` names, and `Expires`, or `Max-Age=0`
/// to clear it. Attribute order follows the `cookie` package the libraries serialise with.
public struct SetCookie: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var value: String
    /// nil: the cookie is cleared.
    public var expires: Date?
    public var secure: Bool

    public var headerValue: String {
        var parts = ["\(name)=\(value)"]
        if expires == nil { parts.append("Max-Age=0") }
        parts.append("Path=/")
        if let expires { parts.append("Expires=\(Self.httpDate(expires))") }
        parts.append("HttpOnly")
        parts.append("SameSite=Lax")
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }

    /// The cookie's name only: its value is a session token.
    public var description: String { "SetCookie(\(name), \(expires == nil ? "cleared" : "<token>"))" }

    /// IMF-fixdate (RFC 9110 §5.6.7), as JavaScript's `Date.toUTCString()` writes it.
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
