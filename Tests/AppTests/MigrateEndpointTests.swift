import AppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppServer

/// The README's "Endpoints" table (its `POST /api/migrate` rows), one case per row, on SQLite and PostgreSQL.
struct EndpointRow: CustomTestStringConvertible, Sendable {
    var name: String
    var variables: [String: String]
    var authorization: String?
    var status: HTTPResponse.Status
    var error: String?
    var testDescription: String { name }
}

let endpointRows: [EndpointRow] = [
    .init(
        name: "MIGRATION_SECRET not set", variables: ["NEXTAUTH_SECRET": Secrets.session],
        authorization: "Bearer \(Secrets.migration)", status: .serviceUnavailable,
        error: "Migration endpoint misconfigured"),
    .init(
        name: "MIGRATION_SECRET === NEXTAUTH_SECRET",
        variables: ["MIGRATION_SECRET": Secrets.session, "NEXTAUTH_SECRET": Secrets.session],
        authorization: "Bearer \(Secrets.session)", status: .serviceUnavailable,
        error: "Migration endpoint misconfigured"),
    .init(
        name: "Correct secret, wrong bearer token",
        variables: ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session],
        authorization: "Bearer \(Secrets.session)", status: .unauthorized, error: "Unauthorized"),
    .init(
        name: "Correct secret, correct bearer token",
        variables: ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session],
        authorization: "Bearer \(Secrets.migration)", status: .ok, error: nil),
    // Beyond the first four rows: the same 503 for an empty value and for reuse of AUTH_SECRET (Auth.js v5's key).
    .init(
        name: "MIGRATION_SECRET empty", variables: ["MIGRATION_SECRET": "", "NEXTAUTH_SECRET": Secrets.session],
        authorization: "Bearer ", status: .serviceUnavailable, error: "Migration endpoint misconfigured"),
    .init(
        name: "MIGRATION_SECRET === AUTH_SECRET",
        variables: ["MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.migration],
        authorization: "Bearer \(Secrets.migration)", status: .serviceUnavailable,
        error: "Migration endpoint misconfigured"),
]

@Suite("POST /api/migrate", .dropsTestDatabases)
struct MigrateEndpointTests {
    @Test("endpoint table row", arguments: Engine.available, endpointRows)
    func row(_ engine: Engine, _ row: EndpointRow) async throws {
        try await AppHarness.run(engine, row.variables) { client, db in
            var headers: HTTPFields = [:]
            if let auth = row.authorization { headers[.authorization] = auth }
            try await client.execute(uri: "/api/migrate", method: .post, headers: headers) { response in
                #expect(response.status == row.status)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.cacheControl] == "no-store")
                if let error = row.error {
                    #expect(response.json["success"] as? Bool == false)
                    #expect(response.json["error"] as? String == error)
                    #expect(response.json.count == 2, "the body never says which condition failed")
                } else {
                    #expect(response.json["success"] as? Bool == true)
                    #expect(response.json["message"] as? String == "Migrations applied")
                    #expect(response.json["applied"] as? [String] == Migration.all.map(\.id))
                }
                if row.status == .unauthorized {
                    #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="migrate""#)
                }
            }
            // Refused requests never reach the database.
            let history = try await historyIDs(db)
            #expect(history == (row.status == .ok ? Migration.all.map(\.id) : nil))
        }
    }

    @Test("a second call applies nothing and still answers 200", arguments: Engine.available)
    func idempotent(_ engine: Engine) async throws {
        try await AppHarness.run(engine) { client, db in
            let auth: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]
            try await client.execute(uri: "/api/migrate", method: .post, headers: auth) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/migrate", method: .post, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(response.json["applied"] as? [String] == [])
                #expect(response.json["message"] as? String == "Migrations applied")
            }
            #expect(
                try await tableNames(db).isSuperset(of: [
                    "users", "accounts", "sessions", "verification_tokens", "app_migrations",
                ]))
        }
    }

    @Test("the scheme name is case-insensitive", arguments: Engine.available, ["bearer", "BEARER", "BeArEr"])
    func schemeCase(_ engine: Engine, _ scheme: String) async throws {
        try await AppHarness.run(engine) { client, _ in
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.authorization: "\(scheme) \(Secrets.migration)"]
            ) {
                #expect($0.status == .ok)
            }
        }
    }

    static let malformed: [String?] = [
        nil, "", "Bearer", "Bearer ", "Bearer\(Secrets.migration)", "Basic \(Secrets.migration)",
        "Token \(Secrets.migration)", "Bearer \(Secrets.migration) extra", "Bearer \(Secrets.migration)!",
        "Bearer ====", "Bearer \(Secrets.migration.prefix(63))", "Bearer \(Secrets.migration)0",
        "Bearer \(Secrets.session)", "Bearer \(Secrets.migration.uppercased())",
    ]

    @Test(
        "missing, malformed or wrong credentials get 401 with WWW-Authenticate", arguments: Engine.available, malformed)
    func unauthorized(_ engine: Engine, _ header: String?) async throws {
        try await AppHarness.run(engine) { client, db in
            var headers: HTTPFields = [:]
            if let header { headers[.authorization] = header }
            try await client.execute(uri: "/api/migrate", method: .post, headers: headers) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="migrate""#)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(response.json["error"] as? String == "Unauthorized")
            }
            #expect(try await historyIDs(db) == nil)
        }
    }

    @Test("two Authorization headers are refused, even if one is right", arguments: Engine.available)
    func twoHeaders(_ engine: Engine) async throws {
        try await AppHarness.run(engine) { client, _ in
            var headers: HTTPFields = [:]
            headers.append(HTTPField(name: .authorization, value: "Bearer \(Secrets.migration)"))
            headers.append(HTTPField(name: .authorization, value: "Bearer wrong"))
            try await client.execute(uri: "/api/migrate", method: .post, headers: headers) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("a token in the query string or the body is never read", arguments: Engine.available)
    func queryAndBodyIgnored(_ engine: Engine) async throws {
        try await AppHarness.run(engine) { client, db in
            for query in ["access_token", "token", "secret", "authorization"] {
                try await client.execute(uri: "/api/migrate?\(query)=\(Secrets.migration)", method: .post) {
                    #expect($0.status == .unauthorized)
                }
            }
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "access_token=\(Secrets.migration)")
            ) { #expect($0.status == .unauthorized) }
            #expect(try await historyIDs(db) == nil)
        }
    }

    @Test(
        "other methods get 405 with Allow: GET, HEAD, POST", arguments: Engine.available,
        [HTTPRequest.Method.put, .delete, .patch, .options])
    func methodNotAllowed(_ engine: Engine, _ method: HTTPRequest.Method) async throws {
        try await AppHarness.run(engine) { client, _ in
            try await client.execute(
                uri: "/api/migrate", method: method, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD, POST")
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(NSDictionary(dictionary: response.json) == ["success": false, "error": "Method not allowed"])
            }
        }
    }

    @Test("GET reports status behind the same gate", arguments: Engine.available)
    func status(_ engine: Engine) async throws {
        try await AppHarness.run(engine) { client, _ in
            try await client.execute(uri: "/api/migrate", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(
                uri: "/api/migrate", method: .get, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.json["applied"] as? [Any] != nil && (response.json["applied"] as! [Any]).isEmpty)
                #expect(response.json["pending"] as? [String] == Migration.all.map(\.id))
            }
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { #expect($0.status == .ok) }
            try await client.execute(
                uri: "/api/migrate", method: .get, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                let applied = response.json["applied"] as? [[String: Any]] ?? []
                #expect(applied.map { $0["id"] as? String } == Migration.all.map(\.id))
                #expect(applied.map { $0["checksum"] as? String } == Migration.all.map(\.checksum))
                #expect(applied.allSatisfy { $0["appliedAt"] is String && $0["executionMs"] is Int })
                #expect(response.json["pending"] as? [String] == [])
            }
        }
        try await AppHarness.run(engine, [:]) { client, _ in
            try await client.execute(uri: "/api/migrate", method: .get, headers: [.authorization: "Bearer x"]) {
                #expect($0.status == .serviceUnavailable)
            }
        }
    }

    @Test("?dryRun=1 returns what would be applied and changes nothing", arguments: Engine.available)
    func dryRun(_ engine: Engine) async throws {
        try await AppHarness.run(engine) { client, db in
            try await client.execute(
                uri: "/api/migrate?dryRun=1", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.json["pending"] as? [String] == Migration.all.map(\.id))
                #expect(response.json["dryRun"] as? Bool == true)
            }
            #expect(try await historyIDs(db) == nil)
            #expect(try await !tableNames(db).contains("users"))
        }
    }

    @Test("an authorised request with an oversized body gets 413 and changes nothing", arguments: Engine.available)
    func bodyCap(_ engine: Engine) async throws {
        try await AppHarness.run(engine) { client, db in
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"],
                body: ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
            ) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/json")
                #expect(
                    NSDictionary(dictionary: response.json) == ["success": false, "error": "Request body too large"])
            }
            #expect(try await historyIDs(db) == nil)
        }
    }

    @Test(
        "a database that stops answering gets 503 Database unavailable, with the cause in the log",
        arguments: Engine.available)
    func databaseUnavailable(_ engine: Engine) async throws {
        let logs = LogCapture()
        try await AppHarness.run(engine, logs: logs) { client, db in
            switch engine {
            case .sqlite: try FileManager.default.removeItem(at: db.dir.url)
            case .postgres:
                try await TestDatabase.adminSQL("DROP DATABASE \(try #require(db.postgres).database) WITH (FORCE)")
            }
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(NSDictionary(dictionary: response.json) == ["success": false, "error": "Database unavailable"])
            }
        }
        #expect(
            logs.lines.contains {
                $0.level == .error && $0.message.contains("database unavailable") && $0.metadata.contains("cause=")
            })
    }

    @Test("no log line holds a secret or a presented token", arguments: Engine.available)
    func logsHoldNoSecrets(_ engine: Engine) async throws {
        let logs = LogCapture()
        let presented = [
            "Bearer \(Secrets.migration)", "Bearer \(Secrets.session)", "Bearer wrong-token-abcdef",
            "Basic dXNlcjpwYXNz",
        ]
        try await AppHarness.run(engine, mode: .live, logs: logs) { client, _ in
            for header in presented {
                for method in [HTTPRequest.Method.post, .get, .put] {
                    _ = try await client.execute(
                        uri: "/api/migrate?access_token=query-token-123", method: method,
                        headers: [.authorization: header])
                }
            }
        }
        let text = logs.text
        #expect(text.contains("migrate call"), "the calls were logged at all")
        #expect(text.contains("status=200") && text.contains("status=401"))
        #expect(
            logs.lines.contains {
                $0.level == .info && $0.metadata.contains("client=127.0.0.1") && $0.metadata.contains("applied=[")
            },
            "each call's outcome is logged at info with the client address and applied ids")
        for needle in [Secrets.migration, Secrets.session, "wrong-token-abcdef", "dXNlcjpwYXNz", "query-token-123"] {
            #expect(!text.contains(needle), "\(needle.prefix(6))… appeared in the log")
        }
    }
}
