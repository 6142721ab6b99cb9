import Foundation
import Testing

/// docs/openapi.yaml against the live server, by schemathesis (PyPI): every generated request's answer
/// must match the document (status, content type, headers, body schema) and methods the document does
/// not list must answer 405.
@Suite("docs/openapi.yaml holds against the live server")
struct OpenAPITests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml").path

    enum Mode: String, CaseIterable, Sendable {
        case authorised, withoutToken, misconfigured
    }

    @Test("no answer breaks the document", .enabled(if: Tool.python("schemathesis")), arguments: Mode.allCases)
    func schemathesis(_ mode: Mode) async throws {
        let dir = try TempDir()
        var env = ["APP_ENV": "test", "NEXTAUTH_SECRET": Secrets.session]
        if mode != .misconfigured { env["MIGRATION_SECRET"] = Secrets.migration }
        let server = try await ServerProcess.start(environment: env, directory: dir.url)
        defer { Task { await server.stop() } }

        var arguments = [
            "python3", "-m", "schemathesis.cli", "run", Self.document, "--url", server.baseURL,
            "--max-examples", "30", "--seed", "20261129", "--generation-database", "none",
            "--request-timeout", "30",
            // 5xx answers are part of the contract (503 misconfigured, 500 migration failed): only
            // their conformance to the document is checked.
            "--exclude-checks",
            mode == .misconfigured ? "not_a_server_error,missing_required_header" : "not_a_server_error",
        ]
        // Misconfigured answers 503 before it looks at the token (the contract), which schemathesis's
        // missing-header check would read as auth being skipped.
        if mode != .withoutToken { arguments += ["-H", "Authorization: Bearer \(Secrets.migration)"] }
        let result = try await runProcess(arguments, directory: dir.url)
        let report = result.out.split(separator: "\n").suffix(25).joined(separator: "\n")
        #expect(
            result.status == 0, "schemathesis found answers that break docs/openapi.yaml:\n\(report)\n\(result.stderr)")
        #expect(result.out.contains(" passed"), "\(report)")
        await server.stop()
        #expect(!server.output.contains(Secrets.migration))
    }
}
