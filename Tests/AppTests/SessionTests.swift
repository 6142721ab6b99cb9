import AppServer
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("sessions", .dropsTestDatabases)
struct SessionTests {
    struct Vectors: Decodable {
        struct Token: Decodable {
            var format: String
            var salt: String
            var enc: String
            var token: String
        }
        var secret: String
        var tokens: [Token]
        var hkdf: [String: String]
    }

    static let vectors: Vectors = {
        let url = URL(fileURLWithPath: ConfigTests.repoFile("Tests/AppTests/Fixtures/session-vectors.json"))
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()

    static func format(_ name: String, _ salt: String) -> SessionFormat {
        name == "v4" ? .nextAuthV4 : .authJSV5(salt: salt)
    }

    static func hex(_ key: SymmetricKey) -> String {
        key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    @Test("HKDF known answers for the v4 and v5 keys")
    func hkdf() {
        let secret = Secret("secret")!
        #expect(
            Self.hex(SessionFormat.nextAuthV4.key(secret: secret, for: .a256gcm))
                == "9ab5058ebf5be88f82f4aee99d22cf8be7a34a4af1836299d0668f4d83020f5a")
        let v5 = Self.hex(SessionFormat.authJSV5(salt: "authjs.session-token").key(secret: secret, for: .a256cbcHS512))
        #expect(v5.count == 128)
        #expect(v5.hasPrefix("b1ef6cdd915c44c0"))
        #expect(v5 == Self.vectors.hkdf["v5_secret_authjs_session_token"])
    }

    @Test("tokens made by Python's cryptography + joserfc decode here", arguments: vectors.tokens.indices)
    func pythonVectors(_ index: Int) throws {
        let vector = Self.vectors.tokens[index]
        let claims = try #require(
            SessionCodec.decode(
                vector.token, secret: Secret(Self.vectors.secret)!, format: Self.format(vector.format, vector.salt)))
        #expect(claims.name == "Ada Lovelace")
        #expect(claims.email == "ada@example.com")
        #expect(claims.picture == "https://example.com/ada.png")
        #expect(claims.sub == "user-1")
        #expect(claims.expires == Date(timeIntervalSince1970: 4_102_444_800))
        #expect(claims.jti == "0f6c1c0e-7e1b-4c55-9b0b-5d0e8f7a1b2c")
        // And not with another secret.
        #expect(
            SessionCodec.decode(
                vector.token, secret: Secret("another-secret")!, format: Self.format(vector.format, vector.salt)) == nil
        )
    }

    @Test(
        "our tokens decode with the Python side", .enabled(if: Tool.python("cryptography", "joserfc")),
        arguments: [("v4", ""), ("v5", "authjs.session-token"), ("v5", "__Secure-authjs.session-token")])
    func pythonDecodesOurs(_ name: String, _ salt: String) async throws {
        let secret = "our-side-secret-0123456789"
        let token = try SessionCodec.encode(
            name: "Grace", email: "grace@example.com", picture: nil, sub: "u-9",
            secret: Secret(secret)!, format: Self.format(name, salt))
        let result = try await runProcess([
            "python3", ConfigTests.repoFile("scripts/checkers/session_vectors.py"), "decode", name, salt, secret, token,
        ])
        try #require(result.status == 0, "python could not decode our token: \(result.stderr)")
        let decoded = try JSONSerialization.jsonObject(with: result.stdout) as! [String: [String: Any]]
        #expect(decoded["claims"]?["email"] as? String == "grace@example.com")
        #expect(decoded["claims"]?["name"] as? String == "Grace")
        #expect(decoded["claims"]?["sub"] as? String == "u-9")
        #expect(decoded["header"]?["alg"] as? String == "dir")
        #expect(decoded["header"]?["enc"] as? String == (name == "v4" ? "A256GCM" : "A256CBC-HS512"))
        if name == "v5" { #expect(decoded["header"]?["kid"] is String) }
    }

    // MARK: Malformed tokens are "no session"

    static let secret = Secret("malformed-cases-secret")!

    static func validToken(_ format: SessionFormat, maxAge: TimeInterval = 3600, now: Date = Date()) -> String {
        try! SessionCodec.encode(
            name: "n", email: "e@example.com", secret: secret, format: format, maxAge: maxAge, now: now)
    }

    static func replacing(_ token: String, part: Int, with transform: (String) -> String) -> String {
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        parts[part] = transform(parts[part])
        return parts.joined(separator: ".")
    }

    static func flipLast(_ s: String) -> String {
        var chars = Array(s)
        chars[chars.count - 2] = chars[chars.count - 2] == "A" ? "B" : "A"
        return String(chars)
    }

    static let formats: [SessionFormat] = [.nextAuthV4, .authJSV5(salt: SessionCookie.authJS)]

    @Test("a valid token decodes (the control for the cases below)", arguments: formats)
    func valid(_ format: SessionFormat) {
        #expect(
            SessionCodec.decode(Self.validToken(format), secret: Self.secret, format: format)?.email == "e@example.com")
    }

    @Test("tampered, expired, wrong-key, wrong-alg, truncated and oversized tokens are no session", arguments: formats)
    func malformed(_ format: SessionFormat) throws {
        let token = Self.validToken(format)
        let header = String(token.split(separator: ".")[0])
        let headerJSON = String(decoding: Base64URL.decode(Substring(header))!, as: UTF8.self)
        let cases: [(String, String)] = [
            ("tampered ciphertext", Self.replacing(token, part: 3, with: Self.flipLast)),
            ("tampered tag", Self.replacing(token, part: 4, with: Self.flipLast)),
            ("tampered iv", Self.replacing(token, part: 2, with: Self.flipLast)),
            (
                "wrong alg",
                Self.replacing(token, part: 0) { _ in
                    Base64URL.encode(Data(headerJSON.replacingOccurrences(of: "\"dir\"", with: "\"A256KW\"").utf8))
                }
            ),
            ("alg none", Self.replacing(token, part: 0) { _ in Base64URL.encode(Data(#"{"alg":"none"}"#.utf8)) }),
            (
                "zip header",
                Self.replacing(token, part: 0) { _ in
                    Base64URL.encode(Data(headerJSON.replacingOccurrences(of: "}", with: #","zip":"DEF"}"#).utf8))
                }
            ),
            ("encrypted key present", Self.replacing(token, part: 1) { _ in "AAAA" }),
            ("truncated", String(token.dropLast(10))),
            (
                "missing part",
                token.split(separator: ".", omittingEmptySubsequences: false).dropLast().joined(separator: ".")
            ),
            ("empty", ""),
            ("not base64", Self.replacing(token, part: 3) { "*" + $0 }),
            ("oversized", token + String(repeating: "A", count: SessionCodec.maxTokenBytes)),
            ("expired", Self.validToken(format, maxAge: 60, now: Date().addingTimeInterval(-120))),
            ("plain JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
        ]
        for (name, bad) in cases {
            #expect(SessionCodec.decode(bad, secret: Self.secret, format: format) == nil, "\(name) was accepted")
        }
        #expect(
            SessionCodec.decode(token, secret: Secret("wrong-key")!, format: format) == nil, "wrong key was accepted")
    }

    @Test("expiry honours 15 s of clock tolerance")
    func tolerance() {
        let token = Self.validToken(.nextAuthV4, maxAge: 60, now: Date().addingTimeInterval(-70))
        #expect(
            SessionCodec.decode(token, secret: Self.secret, format: .nextAuthV4) != nil,
            "10 s past exp is within tolerance")
        let old = Self.validToken(.nextAuthV4, maxAge: 60, now: Date().addingTimeInterval(-80))
        #expect(SessionCodec.decode(old, secret: Self.secret, format: .nextAuthV4) == nil, "20 s past exp is not")
    }

    @Test("a v5 token is not read as v4, nor under another cookie's salt")
    func formatsDoNotMix() {
        let v5 = Self.validToken(.authJSV5(salt: SessionCookie.authJS))
        #expect(SessionCodec.decode(v5, secret: Self.secret, format: .nextAuthV4) == nil)
        #expect(
            SessionCodec.decode(v5, secret: Self.secret, format: .authJSV5(salt: SessionCookie.authJSSecure)) == nil)
    }

    @Test("tokens over 4096 bytes are set as .0, .1, … chunks and read back whole")
    func chunks() throws {
        let format = SessionFormat.nextAuthV4
        let token = try SessionCodec.encode(
            name: String(repeating: "long name ", count: 600), email: "big@example.com", secret: Self.secret,
            format: format)
        #expect(token.utf8.count > 4096)
        let cookies = SessionCookie.cookies(name: SessionCookie.nextAuth, token: token)
        #expect(cookies.count >= 2)
        #expect(cookies.map(\.name) == cookies.indices.map { "\(SessionCookie.nextAuth).\($0)" })
        #expect(cookies.allSatisfy { $0.name.utf8.count + $0.value.utf8.count < SessionCookie.maxCookieBytes })
        let header = cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
        let reader = SessionReader(nextAuthSecret: Self.secret, authSecret: nil)
        #expect(reader.session(cookieHeaders: ["theme=dark; " + header])?.email == "big@example.com")
        #expect(SessionCookie.cookies(name: SessionCookie.nextAuth, token: Self.validToken(format)).count == 1)
    }

    // MARK: Through the server

    static func cookieHeader(_ name: String, _ token: String) -> HTTPFields {
        [
            .cookie: SessionCookie.cookies(name: name, token: token).map { "\($0.name)=\($0.value)" }.joined(
                separator: "; ")
        ]
    }

    @Test(
        "GET /api/auth/session answers like NextAuth.js: the user and expires, or {}",
        arguments: SessionCookie.all.map(\.name))
    func sessionEndpoint(_ cookie: String) async throws {
        let logs = LogCapture()
        let format = SessionCookie.all.first { $0.name == cookie }!.format
        let secret = Secret(Secrets.session)!
        let token = try SessionCodec.encode(
            name: "Ada", email: "ada@example.com", picture: "https://example.com/a.png", secret: secret, format: format)
        try await AppHarness.run(
            .sqlite, ["NEXTAUTH_SECRET": Secrets.session, "MIGRATION_SECRET": Secrets.migration], logs: logs
        ) { client, _ in
            try await client.execute(uri: "/api/auth/session", method: .get, headers: Self.cookieHeader(cookie, token))
            { response in
                #expect(response.status == .ok)
                let user = response.json["user"] as? [String: String]
                #expect(user == ["name": "Ada", "email": "ada@example.com", "image": "https://example.com/a.png"])
                let expires = try #require(response.json["expires"] as? String)
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                #expect(formatter.date(from: expires).map { $0 > Date().addingTimeInterval(29 * 86400) } == true)
            }
            for headers: HTTPFields in [
                [:], [.cookie: "\(cookie)=garbage"], Self.cookieHeader(cookie, Self.flipLast(token)),
            ] {
                try await client.execute(uri: "/api/auth/session", method: .get, headers: headers) { response in
                    #expect(response.status == .ok)
                    #expect(response.text == "{}")
                }
            }
        }
        #expect(!logs.text.contains(token.prefix(40)) && !logs.text.contains(Secrets.session))
    }

    @Test(
        "rotation: a new NEXTAUTH_SECRET ends old sessions and leaves the migrate token working; a new MIGRATION_SECRET leaves sessions valid"
    )
    func rotation() async throws {
        let oldSession = "old-session-secret-\(Secrets.session)"
        let newSession = "new-session-secret-\(Secrets.session)"
        let token = try SessionCodec.encode(
            name: "Ada", email: "ada@example.com", secret: Secret(oldSession)!, format: .nextAuthV4)
        let cookie = Self.cookieHeader(SessionCookie.nextAuth, token)
        let migrate: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]

        try await AppHarness.run(.sqlite, ["NEXTAUTH_SECRET": oldSession, "MIGRATION_SECRET": Secrets.migration]) {
            client, _ in
            try await client.execute(uri: "/api/auth/session", method: .get, headers: cookie) {
                #expect($0.json["user"] != nil)
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: migrate) { #expect($0.status == .ok) }
        }
        // Session secret rotated.
        try await AppHarness.run(.sqlite, ["NEXTAUTH_SECRET": newSession, "MIGRATION_SECRET": Secrets.migration]) {
            client, _ in
            try await client.execute(uri: "/api/auth/session", method: .get, headers: cookie) {
                #expect($0.text == "{}")
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: migrate) { #expect($0.status == .ok) }
        }
        // Migration secret rotated.
        let newMigration = "rotated-\(Secrets.migration)"
        let rotatedMigrate: HTTPFields = [.authorization: "Bearer \(newMigration)"]
        try await AppHarness.run(.sqlite, ["NEXTAUTH_SECRET": oldSession, "MIGRATION_SECRET": newMigration]) {
            client, _ in
            try await client.execute(uri: "/api/auth/session", method: .get, headers: cookie) {
                #expect(($0.json["user"] as? [String: String])?["email"] == "ada@example.com")
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: rotatedMigrate) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: migrate) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("Auth.js v5 cookies use AUTH_SECRET, falling back to NEXTAUTH_SECRET")
    func v5SecretFallback() throws {
        let salt = SessionCookie.authJS
        let withAuth = try SessionCodec.encode(
            name: nil, email: "a@x", secret: Secret("auth-secret-value")!, format: .authJSV5(salt: salt))
        let withNext = try SessionCodec.encode(
            name: nil, email: "n@x", secret: Secret("next-secret-value")!, format: .authJSV5(salt: salt))
        let both = SessionReader(nextAuthSecret: Secret("next-secret-value"), authSecret: Secret("auth-secret-value"))
        #expect(both.session(cookieHeaders: ["\(salt)=\(withAuth)"])?.email == "a@x")
        #expect(both.session(cookieHeaders: ["\(salt)=\(withNext)"]) == nil)
        let fallback = SessionReader(nextAuthSecret: Secret("next-secret-value"), authSecret: nil)
        #expect(fallback.session(cookieHeaders: ["\(salt)=\(withNext)"])?.email == "n@x")
    }

    @Test("app session mint prints a token that decodes, and refuses in production")
    func mint() async throws {
        let dir = try TempDir()
        let env = ["NEXTAUTH_SECRET": Secrets.session]
        let result = try await AppBinary.run(
            ["session", "mint", "--email", "cli@example.com", "--name", "Cli", "--max-age", "600"], environment: env,
            directory: dir.url)
        #expect(result.status == 0)
        let token = result.out.trimmingCharacters(in: .newlines)
        let claims = try #require(SessionCodec.decode(token, secret: Secret(Secrets.session)!, format: .nextAuthV4))
        #expect(claims.email == "cli@example.com" && claims.name == "Cli")
        #expect(abs(claims.expires.timeIntervalSinceNow - 600) < 60)

        let v5 = try await AppBinary.run(
            ["session", "mint", "--email", "v5@example.com", "--format", "v5"], environment: env, directory: dir.url)
        #expect(
            SessionCodec.decode(
                v5.out.trimmingCharacters(in: .newlines), secret: Secret(Secrets.session)!,
                format: .authJSV5(salt: SessionCookie.authJS))?.email == "v5@example.com")

        let production = try await AppBinary.run(
            ["session", "mint", "--email", "x@example.com", "--env", "production"], environment: env, directory: dir.url
        )
        #expect(production.status != 0)
        #expect(production.out.isEmpty)
        #expect(production.err.contains("refused in production"))

        let noSecret = try await AppBinary.run(["session", "mint", "--email", "x@example.com"], directory: dir.url)
        #expect(noSecret.status != 0 && noSecret.out.isEmpty)
    }
}
