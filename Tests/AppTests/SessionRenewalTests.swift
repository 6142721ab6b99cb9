import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

/// Auth.js's rotation list, the gate refusing every session key, and the rolling session cookie
/// (docs/sessions.md). Tokens come from the Python side (`cryptography` + `joserfc`) where the
/// question is whether we agree with an independent implementation.
@Suite("session rotation and renewal", .dropsTestDatabases)
struct SessionRenewalTests {
    static let old = "old-auth-secret-\(Secrets.session)"
    static let new = "new-auth-secret-\(Secrets.session)"
    static let newest = "newest-auth-secret-\(Secrets.session)"
    static let script = ConfigTests.repoFile("scripts/checkers/session_vectors.py")

    static func python(_ arguments: [String]) async throws -> ProcessOutput {
        try await runProcess(["python3", script] + arguments)
    }

    /// A token made by the Python side for `claims`.
    static func pythonToken(_ format: String, _ salt: String, _ secret: String, _ claims: [String: Any]) async throws
        -> String
    {
        let json = String(
            decoding: try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]), as: UTF8.self)
        let result = try await python(["encode", format, salt, secret, json])
        try #require(result.status == 0, "python could not encode: \(result.stderr)")
        return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The claims the Python side reads from `token` under `secret`, or nil when it does not decode.
    static func pythonClaims(_ format: String, _ salt: String, _ secret: String, _ token: String) async throws
        -> [String: Any]?
    {
        let result = try await python(["decode", format, salt, secret, token])
        guard result.status == 0 else { return nil }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        return object?["claims"] as? [String: Any]
    }

    /// `Set-Cookie` values as name → (value, attributes).
    static func setCookies(_ response: TestResponse) -> [String: (value: String, attributes: [String])] {
        var cookies: [String: (String, [String])] = [:]
        for header in response.headers[values: .setCookie] {
            let parts = header.components(separatedBy: "; ")
            let pair = parts[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            cookies[String(pair[0])] = (String(pair[1]), Array(parts.dropFirst()))
        }
        return cookies
    }

    static var claims: [String: Any] {
        [
            "name": "Ada Lovelace", "email": "ada@example.com", "picture": "https://example.com/ada.png",
            "sub": "user-1",
            "role": "admin", "iat": 1_700_000_000, "exp": Int(Date().timeIntervalSince1970) + 3600, "jti": "old-jti",
        ]
    }

    // MARK: The list

    @Test(
        "the Auth.js key list is built as @auth/core builds it: AUTH_SECRET_3, _2, _1, then AUTH_SECRET (else NEXTAUTH_SECRET)"
    )
    func listOrder() throws {
        let all = try AppConfig(variables: [
            "AUTH_SECRET": "a", "AUTH_SECRET_1": "one", "AUTH_SECRET_2": "two", "AUTH_SECRET_3": "three",
            "NEXTAUTH_SECRET": "n",
        ])
        #expect(all.authJSKeys.map(\.value) == ["three", "two", "one", "a"])
        let gaps = try AppConfig(variables: ["AUTH_SECRET_1": "one", "AUTH_SECRET_3": "three", "NEXTAUTH_SECRET": "n"])
        #expect(
            gaps.authJSKeys.map(\.value) == ["three", "one", "n"], "without AUTH_SECRET, NEXTAUTH_SECRET ends the list")
        let numberedOnly = try AppConfig(variables: ["AUTH_SECRET_2": "two"])
        #expect(numberedOnly.authJSKeys.map(\.value) == ["two"])
        #expect(try AppConfig(variables: [:]).authJSKeys.isEmpty)
        #expect(
            all.sessionKeys.map(\.variable) == [
                "NEXTAUTH_SECRET", "AUTH_SECRET", "AUTH_SECRET_1", "AUTH_SECRET_2", "AUTH_SECRET_3",
            ])
        // NextAuth.js v4 keeps its one key.
        #expect(SessionReader(config: all).keys(for: .nextAuthV4).map(\.value) == ["n"])
        let text = "\(all)"
        #expect(text.contains("AUTH_SECRET_3: <redacted>"))
        for value in ["one", "two", "three"] { #expect(!text.contains(": \(value)")) }
        #expect(AppConfig.secretKeys.isSuperset(of: ["AUTH_SECRET_1", "AUTH_SECRET_2", "AUTH_SECRET_3"]))
    }

    @Test(
        "a token made with the old key is read after rotation; one made with a key off the list is not",
        .enabled(if: Tool.python("cryptography", "joserfc")))
    func readAfterRotation() async throws {
        let salt = SessionCookie.authJS
        let oldToken = try await Self.pythonToken("v5", salt, Self.old, Self.claims)
        let rotated = SessionReader(nextAuthSecret: nil, authJSKeys: [Secret(Self.new)!, Secret(Self.old)!])
        let claims = try #require(rotated.session(cookieHeaders: ["\(salt)=\(oldToken)"]))
        #expect(claims.email == "ada@example.com" && claims.sub == "user-1")
        let newToken = try await Self.pythonToken("v5", salt, Self.new, Self.claims)
        #expect(rotated.session(cookieHeaders: ["\(salt)=\(newToken)"])?.email == "ada@example.com")
        // Retired: the old key left the list.
        let retired = SessionReader(nextAuthSecret: nil, authJSKeys: [Secret(Self.newest)!, Secret(Self.new)!])
        #expect(retired.session(cookieHeaders: ["\(salt)=\(oldToken)"]) == nil)
        #expect(retired.session(cookieHeaders: ["\(salt)=\(newToken)"]) != nil)
    }

    // MARK: The rolling cookie, through the server

    @Test(
        "GET /api/auth/session re-issues the cookie: old claims, fresh exp, the list's first key, the library's attributes",
        .enabled(if: Tool.python("cryptography", "joserfc")),
        arguments: [SessionCookie.authJS, SessionCookie.authJSSecure])
    func rollingV5(_ cookie: String) async throws {
        let logs = LogCapture()
        let oldToken = try await Self.pythonToken("v5", cookie, Self.old, Self.claims)
        // Rotated: AUTH_SECRET_1 is the new key (first of the list), AUTH_SECRET the old one.
        let variables = ["MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Self.old, "AUTH_SECRET_1": Self.new]
        try await AppHarness.run(.sqlite, variables, logs: logs) { client, _ in
            try await client.execute(
                uri: "/api/auth/session", method: .get, headers: [.cookie: "theme=dark; \(cookie)=\(oldToken)"]
            ) { response in
                #expect(response.status == .ok)
                #expect((response.json["user"] as? [String: String])?["email"] == "ada@example.com")
                let set = Self.setCookies(response)
                #expect(Array(set.keys) == [cookie], "only the session cookie is set, under its own name")
                let (token, attributes) = try #require(set[cookie])
                #expect(
                    attributes.contains("Path=/") && attributes.contains("HttpOnly")
                        && attributes.contains("SameSite=Lax"))
                #expect(attributes.contains("Secure") == cookie.hasPrefix("__Secure-"))
                #expect(!attributes.contains("Max-Age=0"))

                // The cookie's Expires is the answer's expires, to the second.
                let expiresAttribute = try #require(attributes.first { $0.hasPrefix("Expires=") }).dropFirst(
                    "Expires=".count)
                let http = DateFormatter()
                http.locale = Locale(identifier: "en_US_POSIX")
                http.timeZone = TimeZone(identifier: "GMT")
                http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
                let cookieExpires = try #require(http.date(from: String(expiresAttribute)))
                let iso = ISO8601DateFormatter()
                iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let bodyText = try #require(response.json["expires"] as? String)
                let bodyExpires = try #require(iso.date(from: bodyText))
                #expect(abs(cookieExpires.timeIntervalSince(bodyExpires)) < 1)
                #expect(abs(bodyExpires.timeIntervalSinceNow - SessionCodec.defaultMaxAge) < 60)

                // The Python side reads it with the list's first key, not with the old one.
                let renewed = try #require(
                    try await Self.pythonClaims("v5", cookie, Self.new, token),
                    "the renewed cookie decodes with AUTH_SECRET_1")
                #expect(try await Self.pythonClaims("v5", cookie, Self.old, token) == nil)
                for key in ["name", "email", "picture", "sub", "role"] {
                    #expect(renewed[key] as? String == Self.claims[key] as? String, "claim \(key) carried over")
                }
                let exp = try #require((renewed["exp"] as? NSNumber)?.doubleValue)
                #expect(abs(exp - (Date().timeIntervalSince1970 + SessionCodec.defaultMaxAge)) < 60)
                #expect(abs(exp - cookieExpires.timeIntervalSince1970) < 1)
                #expect((renewed["iat"] as? NSNumber)?.intValue ?? 0 > 1_700_000_000)
                #expect(renewed["jti"] as? String != "old-jti")
            }
        }
        #expect(
            !logs.text.contains(oldToken.prefix(40)) && !logs.text.contains(Self.old) && !logs.text.contains(Self.new))
    }

    @Test(
        "NextAuth.js v4: the renewed cookie is A256GCM under NEXTAUTH_SECRET and the Python side reads it",
        .enabled(if: Tool.python("cryptography", "joserfc")))
    func rollingV4() async throws {
        let cookie = SessionCookie.nextAuth
        let token = try await Self.pythonToken("v4", "", Secrets.session, Self.claims)
        try await AppHarness.run(.sqlite) { client, _ in
            try await client.execute(uri: "/api/auth/session", method: .get, headers: [.cookie: "\(cookie)=\(token)"]) {
                response in
                let renewed = try #require(Self.setCookies(response)[cookie])
                #expect(!renewed.attributes.contains("Secure"))
                let claims = try #require(try await Self.pythonClaims("v4", "", Secrets.session, renewed.value))
                #expect(claims["role"] as? String == "admin" && claims["email"] as? String == "ada@example.com")
                #expect(((claims["exp"] as? NSNumber)?.doubleValue ?? 0) > Date().timeIntervalSince1970 + 29 * 86400)
                let header = try #require(Base64URL.decode(renewed.value.split(separator: ".")[0]))
                #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"dir","enc":"A256GCM"}"#)
            }
        }
    }

    @Test("no valid session: no Set-Cookie at all, whatever cookie was sent")
    func noSessionNoCookie() async throws {
        let unknownKey = try SessionCodec.encode(
            name: "X", email: "x@example.com", secret: Secret("a-key-this-server-does-not-have")!,
            format: .authJSV5(salt: SessionCookie.authJS))
        let expired = try SessionCodec.encode(
            name: "X", email: "x@example.com", secret: Secret(Secrets.session)!, format: .nextAuthV4, maxAge: 60,
            now: Date().addingTimeInterval(-3600))
        let requests: [HTTPFields] = [
            [:], [.cookie: "theme=dark"], [.cookie: "\(SessionCookie.nextAuth)=garbage"],
            [.cookie: "\(SessionCookie.authJS)=\(unknownKey)"], [.cookie: "\(SessionCookie.nextAuth)=\(expired)"],
            [.cookie: "\(SessionCookie.nextAuth).0=stale; \(SessionCookie.nextAuth).1=stale"],
        ]
        try await AppHarness.run(.sqlite) { client, _ in
            for headers in requests {
                try await client.execute(uri: "/api/auth/session", method: .get, headers: headers) { response in
                    #expect(response.text == "{}")
                    #expect(response.headers[values: .setCookie].isEmpty, "no Set-Cookie for \(headers)")
                }
            }
        }
    }

    @Test("stale chunks are cleared with Max-Age=0; a large session is re-issued in chunks that read back whole")
    func chunks() async throws {
        let name = SessionCookie.nextAuth
        let secret = Secret(Secrets.session)!
        let small = try SessionCodec.encode(name: "Ada", email: "ada@example.com", secret: secret, format: .nextAuthV4)
        let large = try SessionCodec.encode(
            name: String(repeating: "long name ", count: 600), email: "big@example.com", secret: secret,
            format: .nextAuthV4)
        let largeCookies = SessionCookie.cookies(name: name, token: large)
        #expect(largeCookies.count >= 2)
        try await AppHarness.run(.sqlite) { client, _ in
            // A small session beside the chunks of an earlier, larger one.
            try await client.execute(
                uri: "/api/auth/session", method: .get,
                headers: [.cookie: "\(name)=\(small); \(name).0=old; \(name).1=old"]
            ) { response in
                let set = Self.setCookies(response)
                #expect(Set(set.keys) == [name, "\(name).0", "\(name).1"])
                let whole = try #require(set[name])
                #expect(
                    SessionCodec.decode(whole.value, secret: secret, format: .nextAuthV4)?.email == "ada@example.com")
                for chunk in ["\(name).0", "\(name).1"] {
                    let cleared = try #require(set[chunk])
                    #expect(
                        cleared.value.isEmpty && cleared.attributes.contains("Max-Age=0")
                            && cleared.attributes.contains("Path=/"))
                    #expect(!cleared.attributes.contains { $0.hasPrefix("Expires=") })
                }
            }
            // A large session arrives in chunks (and a stale whole cookie is not sent): it leaves in chunks.
            let header = largeCookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
            try await client.execute(uri: "/api/auth/session", method: .get, headers: [.cookie: header]) { response in
                let set = Self.setCookies(response)
                let chunks = set.keys.filter { $0.hasPrefix(name + ".") }.sorted()
                #expect(chunks.count >= 2 && set[name] == nil)
                #expect(
                    set.values.allSatisfy { !$0.value.isEmpty && $0.value.utf8.count < SessionCookie.maxCookieBytes })
                let reassembled = chunks.map { "\($0)=\(set[$0]!.value)" }.joined(separator: "; ")
                let claims = SessionReader(nextAuthSecret: secret, authSecret: nil).session(cookieHeaders: [reassembled]
                )
                #expect(claims?.email == "big@example.com")
            }
        }
    }

    // MARK: The gate

    @Test(
        "MIGRATION_SECRET equal to AUTH_SECRET_2 answers 503 and the reused check names AUTH_SECRET_2, never the value")
    func gateRefusesNumberedKey() async throws {
        let variables = [
            "MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.session, "AUTH_SECRET_2": Secrets.migration,
        ]
        let config = try AppConfig(variables: variables)
        let reused = try #require(checkMigrationSecret(config).first { $0.id == "migration-secret.reused" })
        #expect(reused.level == .error)
        #expect(reused.message.contains("AUTH_SECRET_2") && !reused.message.contains("AUTH_SECRET,"))
        #expect(!reused.message.contains(Secrets.migration) && !reused.hint.contains(Secrets.migration))
        try await AppHarness.run(.sqlite, variables) { client, _ in
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.json["error"] as? String == "Migration endpoint misconfigured")
            }
        }
    }

    @Test("app session mint --format v5 encrypts with the list's first key")
    func mintUsesFirstKey() async throws {
        let dir = try TempDir()
        let env = ["AUTH_SECRET": Self.old, "AUTH_SECRET_1": Self.new]
        let result = try await AppBinary.run(
            ["session", "mint", "--email", "v5@example.com", "--format", "v5"], environment: env, directory: dir.url)
        #expect(result.status == 0, "\(result.err)")
        let token = result.out.trimmingCharacters(in: .newlines)
        let format = SessionFormat.authJSV5(salt: SessionCookie.authJS)
        #expect(SessionCodec.decode(token, secret: Secret(Self.new)!, format: format)?.email == "v5@example.com")
        #expect(SessionCodec.decode(token, secret: Secret(Self.old)!, format: format) == nil)
    }
}
