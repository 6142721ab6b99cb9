import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore
@testable import AppServer

/// `POST /api/migrate` with `Prefer: respond-async` (RFC 7240): 202 and a run location that answers
/// the run's state, then what the synchronous call would have answered.
@Suite("asynchronous migration runs", .dropsTestDatabases)
struct AsyncRunTests {
    static let auth: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]

    /// Polls `location` until the run is no longer running; its final status and body.
    static func outcome(_ client: any TestClientProtocol, _ location: String) async throws -> (
        HTTPResponse.Status, [String: Any]
    ) {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let (status, body) = try await client.execute(uri: location, method: .get, headers: auth) {
                ($0.status, $0.json)
            }
            if status != .accepted { return (status, body) }
            #expect(body["state"] as? String == "running")
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the run did not finish in 30 s")
        return (.accepted, [:])
    }

    static let gateKey = 727_272

    @Test(
        "202 with the run's location at once, 202 running while it is held, then the synchronous answer; the gate guards the location",
        .enabled(if: Tool.postgres))
    func slowRun() async throws {
        // The run waits for a lock the test holds: the 202 cannot have waited for it, and "running" is
        // what the location must say until the test lets it go. No clock involved.
        let slow = Migration(
            id: "0001_slow",
            statements: ["SELECT pg_advisory_xact_lock(\(Self.gateKey))", "CREATE TABLE slow_done (x int)"])
        try await AppHarness.run(.postgres, migrations: [slow]) { client, db in
            try await holdingAdvisoryLock(db, Self.gateKey) { lock in
                var headers = Self.auth
                headers[.prefer] = "wait=5, respond-async"
                let location = try await client.execute(uri: "/api/migrate", method: .post, headers: headers) {
                    response -> String in
                    #expect(response.status == .accepted)
                    #expect(response.headers[.preferenceApplied] == "respond-async")
                    let run = try #require(response.json["run"] as? String)
                    #expect(response.json["success"] as? Bool == true)
                    #expect(response.headers[.location] == "/api/migrate/runs/\(run)")
                    return "/api/migrate/runs/\(run)"
                }
                try await waitForLockWaiter(lock, Self.gateKey)
                try await client.execute(uri: location, method: .get, headers: Self.auth) { response in
                    #expect(response.status == .accepted)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(response.json["state"] as? String == "running")
                }
                try await client.execute(uri: location, method: .get) { #expect($0.status == .unauthorized) }
                try await lock.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.gateKey)))").run()
                let (status, body) = try await Self.outcome(client, location)
                #expect(status == .ok)
                #expect(
                    NSDictionary(dictionary: body) == [
                        "success": true, "message": "Migrations applied", "applied": ["0001_slow"],
                    ])
                #expect(try await historyIDs(db) == ["0001_slow"])
                // Asked again: the same answer.
                try await client.execute(uri: location, method: .get, headers: Self.auth) {
                    #expect($0.status == .ok)
                }
            }
        }
    }

    @Test("a failing run's location gives the synchronous failure; an unknown run is 404", arguments: Engine.available)
    func failingRun(_ engine: Engine) async throws {
        let broken = Migration(
            id: "0001_broken", statements: ["CREATE TABLE t (x int)", "INSERT INTO no_such_table VALUES (1)"])
        try await AppHarness.run(engine, migrations: [broken]) { client, db in
            var headers = Self.auth
            headers[.prefer] = "RESPOND-ASYNC"
            let run = try await client.execute(uri: "/api/migrate", method: .post, headers: headers) { response in
                #expect(response.status == .accepted)
                return try #require(response.json["run"] as? String)
            }
            let (status, body) = try await Self.outcome(client, "/api/migrate/runs/\(run)")
            #expect(status == .internalServerError)
            #expect(
                NSDictionary(dictionary: body) == [
                    "success": false, "error": "Migration failed", "migration": "0001_broken",
                ])
            #expect(try await tableNames(db).contains("t") == false, "rolled back whole")
            try await client.execute(
                uri: "/api/migrate/runs/00000000-0000-0000-0000-000000000000", method: .get, headers: Self.auth
            ) { response in
                #expect(response.status == .notFound)
                #expect(response.json["error"] as? String == "Unknown migration run")
            }
            // Without the preference the call is synchronous, as before.
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) {
                #expect($0.status == .internalServerError)
            }
        }
    }

    @Test("Prefer is read as RFC 7240 writes it")
    func preferParsing() {
        func prefers(_ values: [String]) -> Bool {
            var fields = HTTPFields()
            for value in values { fields.append(HTTPField(name: .prefer, value: value)) }
            return Request(
                head: .init(method: .post, scheme: "http", authority: "x", path: "/", headerFields: fields),
                body: .init(buffer: .init())
            ).prefersAsync
        }
        #expect(prefers(["respond-async"]))
        #expect(prefers(["wait=10, Respond-Async"]))
        #expect(prefers(["handling=lenient", "respond-async; x=y"]))
        #expect(!prefers([]))
        #expect(!prefers(["respond-asynchronously", "return=minimal"]))
        #expect(!prefers(["wait=respond-async"]))
    }
}
