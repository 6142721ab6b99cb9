import Foundation

/// `TRUST_PROXY`: the addresses (or CIDR ranges) of the proxies in front of the server. Only a request
/// that comes from one of them has its `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` headers
/// believed; from anyone else those headers are ignored, since any client can send them.
public struct TrustedProxies: Sendable, Equatable {
    struct Range: Sendable, Equatable {
        var address: [UInt8]
        var prefix: Int

        func contains(_ bytes: [UInt8]) -> Bool {
            guard bytes.count == address.count else { return false }
            var bits = prefix
            for (a, b) in zip(address, bytes) {
                guard bits > 0 else { return true }
                let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if a & mask != b & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    var ranges: [Range] = []

    public init() {}

    /// A comma- or space-separated list of addresses and CIDR ranges (`10.0.0.0/8`, `::1`).
    public init(list: String) throws {
        for entry in list.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) {
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = Self.bytes(parts[0]) else { throw ConfigError.invalidTrustProxy(entry) }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let value = Int(parts[1]), (0...bytes.count * 8).contains(value) else {
                    throw ConfigError.invalidTrustProxy(entry)
                }
                prefix = value
            }
            ranges.append(Range(address: bytes, prefix: prefix))
        }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    public func contains(_ address: String) -> Bool {
        // Without a list (the default) no address is parsed: this runs on every refused call.
        guard !ranges.isEmpty, let bytes = Self.bytes(address) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    /// Where a request came from, and over what: the peer and whether this server's own listener is
    /// TLS, unless the peer is a trusted proxy, whose forwarding headers then say. Of the addresses a
    /// chain of proxies appended, the client is the nearest one that is not itself a trusted proxy.
    public func origin(peer: String?, tls: Bool, forwarded: [String], forwardedFor: [String], forwardedProto: [String])
        -> (client: String, scheme: String)
    {
        origin(peer: peer, tls: tls) { (forwarded, forwardedFor, forwardedProto) }
    }

    /// The same, with the forwarding headers asked for only when the peer is a trusted proxy: a
    /// request straight from a client (every request, without `TRUST_PROXY`) reads none of them.
    public func origin(
        peer: String?, tls: Bool,
        forwardingHeaders: () -> (forwarded: [String], forwardedFor: [String], forwardedProto: [String])
    ) -> (client: String, scheme: String) {
        let direct = (peer ?? "unknown", tls ? "https" : "http")
        guard let peer, contains(peer) else { return direct }
        let (forwarded, forwardedFor, forwardedProto) = forwardingHeaders()
        // RFC 7239 first; the X-Forwarded-* pair otherwise.
        var hops: [(for: String?, proto: String?)] = Self.forwardedElements(forwarded)
        if hops.isEmpty {
            let addresses = forwardedFor.flatMap { $0.split(separator: ",") }.map {
                $0.trimmingSpaces()
            }
            let proto = forwardedProto.flatMap { $0.split(separator: ",") }.first.map {
                $0.trimmingSpaces().lowercased()
            }
            hops = addresses.map { ($0, proto) }
        }
        guard !hops.isEmpty else { return direct }
        let chosen = hops.last { hop in hop.for.map { !contains(Self.host(of: $0)) } ?? false } ?? hops[0]
        let scheme = (chosen.proto == "https" || chosen.proto == "http") ? chosen.proto! : direct.1
        return (chosen.for.map(Self.host(of:)) ?? direct.0, scheme)
    }

    /// `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"` as (for, proto) pairs, in order.
    static func forwardedElements(_ values: [String]) -> [(for: String?, proto: String?)] {
        values.flatMap { $0.split(separator: ",") }.map { element in
            var pair: (for: String?, proto: String?) = (nil, nil)
            for parameter in element.split(separator: ";") {
                let kv = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                guard kv.count == 2 else { continue }
                let value = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                switch kv[0].lowercased() {
                case "for": pair.for = value
                case "proto": pair.proto = value.lowercased()
                default: break
                }
            }
            return pair
        }
    }

    /// The address in `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]:4711` or `2001:db8::1`.
    static func host(of node: String) -> String {
        if node.hasPrefix("["), let end = node.firstIndex(of: "]") {
            return String(node[node.index(after: node.startIndex)..<end])
        }
        if node.filter({ $0 == ":" }).count == 1, let colon = node.firstIndex(of: ":") { return String(node[..<colon]) }
        return node
    }

    /// The address's bytes (4 for IPv4, 16 for IPv6), or nil when it is not an IP address.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// True for an address that only this machine can reach: `127.0.0.0/8`, `::1`, `localhost`.
public func isLoopback(host: String) -> Bool {
    if host == "localhost" { return true }
    guard let bytes = TrustedProxies.bytes(host) else { return false }
    if bytes.count == 4 { return bytes[0] == 127 }
    return bytes == [UInt8](repeating: 0, count: 15) + [1]
}
