import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

/// HTTPS on the server itself (docs/tls.md): certificates made by Python's `cryptography`
/// (scripts/checkers/tls_certs.py), clients that verify them against the test root (Python's `ssl` for TLS 1.2
/// and 1.3, curl for HTTP/2), the reload by SIGHUP, and each way a bad pair stops startup.
@Suite("TLS", .enabled(if: Tool.python("cryptography")))
struct TLSTests {
    static let script = ConfigTests.repoFile("scripts/checkers/tls_certs.py")

    /// A folder with root.pem, one.pem/one.key, two.pem/two.key and other.key.
    static func certificates() async throws -> TempDir {
        let dir = try TempDir()
        let made = try await runProcess(["python3", script, "make", dir.path])
        try #require(made.status == 0, "\(made.stderr)")
        return dir
    }

    static func start(_ dir: TempDir, cert: String = "one.pem", key: String = "one.key") async throws -> ServerProcess {
        try await ServerProcess.start(
            environment: [
                "APP_ENV": "test", "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
                "TLS_CERT_FILE": dir.url.appendingPathComponent(cert).path,
                "TLS_KEY_FILE": dir.url.appendingPathComponent(key).path,
            ], directory: dir.url)
    }

    @Test(
        "app check loads the pair as startup does: a key that does not match is transport.tls, naming the file, never the key; a good pair is no finding"
    )
    func check() async throws {
        let dir = try await Self.certificates()
        func run(_ key: String) async throws -> (status: Int32, out: String, err: String) {
            try await AppBinary.run(
                ["check"],
                environment: [
                    "APP_ENV": "test", "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
                    "TLS_CERT_FILE": dir.url.appendingPathComponent("one.pem").path,
                    "TLS_KEY_FILE": dir.url.appendingPathComponent(key).path,
                ], directory: dir.url)
        }
        let good = try await run("one.key")
        #expect(!good.out.contains("transport.tls"), "\(good.out)")
        let bad = try await run("other.key")
        #expect(bad.status == 1)
        #expect(
            bad.out.contains("ERROR transport.tls") && bad.out.contains("does not match the certificate"), "\(bad.out)")
        let key = try String(contentsOf: dir.url.appendingPathComponent("other.key"), encoding: .utf8)
        let keyBody = key.split(separator: "\n").dropFirst().first.map(String.init) ?? key
        #expect(!bad.out.contains(keyBody) && !bad.err.contains(keyBody))
    }

    static func python(_ arguments: [String]) async throws -> [String: Any]? {
        let result = try await runProcess(["python3", script] + arguments)
        guard result.status == 0 else { return nil }
        return try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
    }

    @Test(
        "HTTPS with a chain, verified against the root over TLS 1.2 and 1.3; HTTP/2 by ALPN beside HTTP/1.1; the migrate contract over both"
    )
    func serves() async throws {
        let dir = try await Self.certificates()
        let server = try await Self.start(dir)
        defer { Task { await server.stop() } }
        let root = dir.url.appendingPathComponent("root.pem").path
        for version in ["1.2", "1.3"] {
            let answer = try #require(
                try await Self.python(["get", "127.0.0.1", "\(server.port)", root, version]), "TLS \(version) failed")
            #expect(answer["subject"] as? String == "one")
            #expect(answer["version"] as? String == "TLSv\(version)")
            #expect(answer["status"] as? Int == 200)
        }
        // Plain HTTP to the TLS port is not answered as HTTP.
        let plain = try await runProcess([
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(server.port)/livez",
        ])
        #expect(plain.out == "000")

        for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
            let result = try await runProcess([
                "curl", "-s", flag, "--cacert", root, "-X", "POST", "-H", "Authorization: Bearer \(Secrets.migration)",
                "-w", "\n%{http_version} %{http_code}", "https://localhost:\(server.port)/api/migrate",
            ])
            let lines = result.out.split(separator: "\n")
            #expect(lines.last == "\(version) 200", "\(result.out) \(result.stderr)")
            let body = try JSONSerialization.jsonObject(with: Data(lines.first!.utf8)) as? [String: Any]
            #expect(body?["success"] as? Bool == true && body?["message"] as? String == "Migrations applied")
            let refused = try await runProcess([
                "curl", "-s", flag, "--cacert", root, "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                "https://localhost:\(server.port)/api/migrate",
            ])
            #expect(refused.out == "401")
        }
        // A client that trusts another root refuses the server.
        let untrusted = try await runProcess([
            "curl", "-s", "-o", "/dev/null", "https://localhost:\(server.port)/livez",
        ])
        #expect(untrusted.status != 0)
    }

    @Test(
        "SIGHUP reloads the pair: an open connection goes on, the next handshake shows the new certificate; a failed reload keeps the old one and says why"
    )
    func reload() async throws {
        let dir = try await Self.certificates()
        let server = try await Self.start(dir)
        defer { Task { await server.stop() } }
        let root = dir.url.appendingPathComponent("root.pem").path
        let files = FileManager.default
        func replace(_ name: String, with source: String) throws {
            let target = dir.url.appendingPathComponent(name)
            try files.removeItem(at: target)
            try files.copyItem(at: dir.url.appendingPathComponent(source), to: target)
        }
        try replace("one.pem", with: "two.pem")
        try replace("one.key", with: "two.key")
        let answer = try #require(
            try await Self.python([
                "reload", "127.0.0.1", "\(server.port)", root, "\(server.process.processIdentifier)",
            ]))
        #expect(answer["before"] as? String == "one")
        #expect(answer["same"] as? Int == 200, "the connection opened before the reload still answers")
        #expect(answer["after"] as? String == "two")
        #expect(server.output.contains("TLS certificate and key reloaded"))

        // A key that does not fit: the reload fails, "two" stays in use.
        try replace("one.key", with: "other.key")
        kill(server.process.processIdentifier, SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        let after = try #require(try await Self.python(["get", "127.0.0.1", "\(server.port)", root, "1.3"]))
        #expect(after["subject"] as? String == "two")
        #expect(server.output.contains("TLS reload failed; the previous certificate stays in use"))
        #expect(
            server.output.contains(
                "the key in \(dir.url.appendingPathComponent("one.key").path) does not match the certificate"))
        let key = try String(contentsOf: dir.url.appendingPathComponent("other.key"), encoding: .utf8)
        let keyBody = key.split(separator: "\n").dropFirst().first.map(String.init) ?? key
        #expect(!server.output.contains(keyBody), "no line of the key is logged")
    }

    @Test(
        "a bad or unreadable file, or a key that does not match, stops startup with one line naming the variable, never the key"
    )
    func failures() async throws {
        let dir = try await Self.certificates()
        let path = { (name: String) in dir.url.appendingPathComponent(name).path }
        let cases: [(cert: String, key: String, message: String)] = [
            (
                "one.pem", "other.key",
                "TLS_KEY_FILE: the key in \(path("other.key")) does not match the certificate in \(path("one.pem"))"
            ),
            ("missing.pem", "one.key", "TLS_CERT_FILE: \(path("missing.pem")) does not exist"),
            ("one.key", "one.key", "TLS_CERT_FILE: \(path("one.key")) does not hold a PEM certificate"),
            ("one.pem", "one.pem", "TLS_KEY_FILE: \(path("one.pem")) does not hold an unencrypted PEM private key"),
            ("one.pem", ".", "TLS_KEY_FILE: \(dir.path)/. is a directory, not a PEM file"),
        ]
        let keys = try ["one.key", "other.key"].map {
            try String(contentsOf: dir.url.appendingPathComponent($0), encoding: .utf8)
        }
        for item in cases {
            let result = try await AppBinary.run(
                ["serve", "--port", "0"],
                environment: [
                    "APP_ENV": "test", "MIGRATION_SECRET": Secrets.migration, "TLS_CERT_FILE": path(item.cert),
                    "TLS_KEY_FILE": path(item.key),
                ], directory: dir.url)
            #expect(result.status == 1)
            #expect(result.err == "error: startup failed: \(item.message)\n", "\(result.err)")
            for key in keys {
                for line in key.split(separator: "\n") where !line.hasPrefix("-----") {
                    #expect(!result.err.contains(line))
                }
            }
        }
        let half = try await AppBinary.run(
            ["serve", "--port", "0"], environment: ["APP_ENV": "test", "TLS_CERT_FILE": path("one.pem")],
            directory: dir.url)
        #expect(half.status != 0)
        #expect(
            half.err.contains("TLS_KEY_FILE is not set: TLS needs both TLS_CERT_FILE and TLS_KEY_FILE"), "\(half.err)")
    }
}
