import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import AppCore
@testable import AppServer

@Suite("plain HTTP and proxies")
struct TransportTests {
    static func config(_ variables: [String: String]) throws -> AppConfig {
        try AppConfig(variables: ["MIGRATION_SECRET": Secrets.migration].merging(variables) { $1 })
    }

    @Test(
        "transport.plain-http: production on a network address without TLS warns, errs with REQUIRE_TLS=1; never on loopback, with TLS, or outside production"
    )
    func check() throws {
        let warned = checkTransport(try Self.config(["APP_ENV": "production", "HOST": "0.0.0.0"]))
        #expect(warned.map(\.id) == ["transport.plain-http"])
        #expect(warned.first?.level == .warning)
        #expect(warned.first?.hint == "terminate TLS in front of it, or set TLS_CERT_FILE/TLS_KEY_FILE")
        #expect(warned.first?.message.contains("0.0.0.0") == true)
        let required = checkTransport(
            try Self.config(["APP_ENV": "production", "HOST": "10.1.2.3", "REQUIRE_TLS": "1"]))
        #expect(required.map(\.level) == [.error])
        for quiet in [
            ["APP_ENV": "production", "HOST": "127.0.0.1"], ["APP_ENV": "production", "HOST": "::1"],
            ["APP_ENV": "production", "HOST": "localhost"],
            ["APP_ENV": "production", "HOST": "127.8.9.10", "REQUIRE_TLS": "true"],
            ["APP_ENV": "development", "HOST": "0.0.0.0"],
            ["APP_ENV": "staging", "HOST": "0.0.0.0", "REQUIRE_TLS": "1"],
            ["APP_ENV": "production", "HOST": "0.0.0.0", "TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"],
        ] {
            #expect(checkTransport(try Self.config(quiet)).isEmpty, "\(quiet)")
        }
        #expect(throws: ConfigError.invalidRequireTLS) { try Self.config(["REQUIRE_TLS": "yes please"]) }
        #expect(throws: ConfigError.tlsIncomplete(missing: "TLS_CERT_FILE")) {
            try Self.config(["TLS_KEY_FILE": "k.pem"])
        }
    }

    @Test("forwarding headers count only from a proxy TRUST_PROXY names")
    func origin() throws {
        let proxies = try TrustedProxies(list: "10.0.0.0/8, 192.0.2.1 ::1")
        let forwardedFor = ["203.0.113.7, 10.1.1.1"]
        // From a trusted proxy: the nearest address that is not a proxy, and the scheme it reports.
        let trusted = proxies.origin(
            peer: "10.2.3.4", tls: false, forwarded: [], forwardedFor: forwardedFor, forwardedProto: ["https"])
        #expect(trusted.client == "203.0.113.7" && trusted.scheme == "https")
        // From anyone else the headers are ignored.
        let direct = proxies.origin(
            peer: "198.51.100.9", tls: false, forwarded: [], forwardedFor: forwardedFor, forwardedProto: ["https"])
        #expect(direct.client == "198.51.100.9" && direct.scheme == "http")
        #expect(
            proxies.origin(peer: "198.51.100.9", tls: true, forwarded: [], forwardedFor: [], forwardedProto: []).scheme
                == "https")
        // RFC 7239, IPv6 with a port, and a spoofed first hop that the chain does not reach.
        let rfc = proxies.origin(
            peer: "::1", tls: false, forwarded: [#"for=1.2.3.4;proto=http, for="[2001:db8::1]:4711";proto=https"#],
            forwardedFor: ["9.9.9.9"], forwardedProto: ["http"])
        #expect(rfc.client == "2001:db8::1" && rfc.scheme == "https")
        // A trusted peer that forwards nothing is the client.
        #expect(
            proxies.origin(peer: "192.0.2.1", tls: false, forwarded: [], forwardedFor: [], forwardedProto: []).client
                == "192.0.2.1")
        #expect(
            TrustedProxies().origin(
                peer: "10.2.3.4", tls: false, forwarded: [], forwardedFor: forwardedFor, forwardedProto: ["https"]
            ).client == "10.2.3.4")
        // The headers are read only for a trusted peer, and an empty list parses no address.
        var asked = 0
        func headers() -> (forwarded: [String], forwardedFor: [String], forwardedProto: [String]) {
            asked += 1
            return ([], forwardedFor, ["https"])
        }
        #expect(
            proxies.origin(peer: "198.51.100.9", tls: false, forwardingHeaders: headers) == ("198.51.100.9", "http"))
        #expect(
            TrustedProxies().origin(peer: "10.2.3.4", tls: true, forwardingHeaders: headers) == ("10.2.3.4", "https"))
        #expect(asked == 0)
        #expect(proxies.origin(peer: "10.2.3.4", tls: false, forwardingHeaders: headers) == ("203.0.113.7", "https"))
        #expect(asked == 1)
        #expect(
            !TrustedProxies().contains("127.0.0.1") && proxies.contains("10.9.9.9") && !proxies.contains("11.0.0.1"))
        for bad in ["10.0.0.0/33", "example.com", "::1/129", "10.0.0.1/x"] {
            #expect(throws: ConfigError.invalidTrustProxy(bad)) { try TrustedProxies(list: bad) }
        }
    }

    @Test("the migrate log line's client and scheme follow TRUST_PROXY")
    func logLine() async throws {
        let headers: HTTPFields = [
            .authorization: "Bearer wrong-token", HTTPField.Name("X-Forwarded-For")!: "203.0.113.7",
            HTTPField.Name("X-Forwarded-Proto")!: "https",
        ]
        for (trust, client, scheme) in [(nil, "127.0.0.1", "http"), ("127.0.0.1", "203.0.113.7", "https")]
            as [(String?, String, String)]
        {
            let logs = LogCapture()
            var variables = ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]
            variables["TRUST_PROXY"] = trust
            try await AppHarness.run(.sqlite, variables, mode: .live, logs: logs) { client, _ in
                try await client.execute(uri: "/api/migrate", method: .post, headers: headers) {
                    #expect($0.status == .unauthorized)
                }
            }
            let line = try #require(logs.lines.first { $0.message == "migrate call" })
            #expect(
                line.metadata.contains("client=\(client)") && line.metadata.contains("scheme=\(scheme)"),
                "\(line.metadata)")
        }
    }

    @Test("the client's address as text is NIO's, IPv4 written from its bytes")
    func addressText() throws {
        var random = SplitMix(seed: 7239)
        let fixed = ["0.0.0.0", "255.255.255.255", "127.0.0.1", "10.0.0.1", "192.0.2.60", "100.10.1.0", "9.99.199.200"]
        let drawn = (0..<5_000).map { _ in
            let bits = random.next()
            return (0..<4).map { "\(bits >> ($0 * 8) & 0xFF)" }.joined(separator: ".")
        }
        for text in fixed + drawn {
            let address = try SocketAddress(ipAddress: text, port: 443)
            #expect(address.addressText == text)
            #expect(address.addressText == address.ipAddress)
        }
        for text in ["::1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1:2:3:4"] {
            let address = try SocketAddress(ipAddress: text, port: 443)
            #expect(address.addressText == address.ipAddress)
        }
    }
}
