import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the client's address, for the migrate log line.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}

extension SocketAddress {
    /// The address as `ipAddress` gives it, an IPv4 one written from its four bytes here: NIO's goes
    /// through `inet_ntop`, which formats IPv4 with `sprintf`, and the migrate log line needs the text
    /// on every refused call (the refusal log keys on it). Other kinds as NIO writes them.
    var addressText: String? {
        guard case .v4(let address) = self else { return ipAddress }
        return withUnsafeBytes(of: address.address.sin_addr.s_addr) { bytes in
            // At most 15 bytes ("255.255.255.255"): a string that small is held inline, not allocated.
            String(unsafeUninitializedCapacity: 15) { text in
                var count = 0
                for (index, byte) in bytes.enumerated() {
                    if index > 0 {
                        text[count] = UInt8(ascii: ".")
                        count += 1
                    }
                    if byte >= 100 {
                        text[count] = UInt8(ascii: "0") + byte / 100
                        count += 1
                    }
                    if byte >= 10 {
                        text[count] = UInt8(ascii: "0") + byte / 10 % 10
                        count += 1
                    }
                    text[count] = UInt8(ascii: "0") + byte % 10
                    count += 1
                }
                return count
            }
        }
    }
}
