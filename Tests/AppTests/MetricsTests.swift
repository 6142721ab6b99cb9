import AppCore
import AppServer
import Foundation
import Testing

/// `/metrics` on `METRICS_PORT`, read back with prometheus_client's own parser (scripts/checkers/parse_metrics.py).
@Suite("metrics", .enabled(if: Tool.python("prometheus_client")))
struct MetricsTests {
    struct Sample: Decodable {
        var family: String
        var type: String
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static func parse(_ text: String) async throws -> [Sample] {
        let result = try await runProcess(
            ["python3", ConfigTests.repoFile("scripts/checkers/parse_metrics.py")], stdin: text)
        try #require(result.status == 0, "the exposition does not parse: \(result.stderr)")
        return try JSONDecoder().decode([Sample].self, from: result.stdout)
    }

    @Test(
        "requests by route and status, migrate calls by outcome, migrations applied, durations, lock waits, check issues, build info; nothing secret"
    )
    func exposition() async throws {
        let dir = try TempDir()
        let metricsPort = try refusedPort()
        let weak = "short-but-valid-1"
        let server = try await ServerProcess.start(
            environment: [
                "APP_ENV": "development", "MIGRATION_SECRET": weak, "NEXTAUTH_SECRET": Secrets.session,
                "METRICS_PORT": "\(metricsPort)",
            ], directory: dir.url)
        let base = server.baseURL
        #expect(try await get("\(base)/livez").0 == 200)
        #expect(
            try await get("\(base)/api/migrate", headers: [("Authorization", "Bearer wrong-token")], method: .POST).0
                == 401)
        #expect(
            try await get("\(base)/api/migrate", headers: [("Authorization", "Bearer \(weak)")], method: .POST).0 == 200
        )
        #expect(
            try await get("\(base)/api/migrate", headers: [("Authorization", "Bearer \(weak)")], method: .POST).0 == 200
        )
        #expect(try await get("\(base)/no/such/page").0 == 404)
        #expect(try await get("\(base)/metrics").0 == 404, "metrics are not on the main port")

        let (status, text) = try await get("http://127.0.0.1:\(metricsPort)/metrics")
        #expect(status == 200)
        #expect(await server.stop() == 0)
        let samples = try await Self.parse(text)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?
                .value
        }
        #expect(value("app_http_requests_total", ["route": "/api/migrate", "method": "POST", "status": "401"]) == 1)
        #expect(value("app_http_requests_total", ["route": "/api/migrate", "method": "POST", "status": "200"]) == 2)
        #expect(value("app_http_requests_total", ["route": "/livez", "method": "GET", "status": "200"]) == 1)
        #expect(value("app_http_requests_total", ["route": "unmatched", "method": "GET", "status": "404"]) == 2)
        #expect(value("app_migrate_calls_total", ["outcome": "unauthorized"]) == 1)
        #expect(value("app_migrate_calls_total", ["outcome": "applied"]) == 1)
        #expect(value("app_migrate_calls_total", ["outcome": "nothing_pending"]) == 1)
        #expect(value("app_migrations_applied_total") == Double(Migration.all.count))
        #expect(value("app_migration_duration_seconds_count") == Double(Migration.all.count))
        #expect(samples.contains { $0.family == "app_migration_duration_seconds" && $0.type == "histogram" })
        #expect((value("app_migration_lock_wait_seconds_count") ?? 0) >= Double(Migration.all.count))
        #expect(value("app_startup_check_issues", ["id": "migration-secret.weak", "level": "warning"]) == 1)
        #expect(value("app_build_info", ["version": AppMetrics.version]) == 1)
        for secret in [weak, Secrets.session, "wrong-token"] { #expect(!text.contains(secret)) }
    }

    @Test("METRICS_PORT unset: no metrics listener; a bad value stops startup")
    func off() throws {
        #expect(try AppConfig(variables: [:]).metricsPort == nil)
        #expect(try AppConfig(variables: ["METRICS_PORT": "9464"]).metricsPort == 9464)
        #expect(throws: ConfigError.invalidMetricsPort) { try AppConfig(variables: ["METRICS_PORT": "x"]) }
    }
}
