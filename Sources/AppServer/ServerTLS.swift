import AppCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Why TLS could not be set up or reloaded: one line naming the variable, never the key.
public struct TLSSetupError: Error, CustomStringConvertible {
    public var variable: String
    public var reason: String
    public var description: String { "\(variable): \(reason)" }
}

/// The server's certificate chain and key from `TLS_CERT_FILE` and `TLS_KEY_FILE`. Each handshake
/// takes the pair current at that moment, so `reload()` (on SIGHUP) puts a renewed certificate in use
/// for new connections without a restart and without touching open ones.
public final class ServerTLS: Sendable {
    struct Pair: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
    }

    let certFile: String
    let keyFile: String
    private let current: Mutex<Pair>

    public init(certFile: String, keyFile: String) throws {
        self.certFile = certFile
        self.keyFile = keyFile
        self.current = Mutex(try Self.load(certFile: certFile, keyFile: keyFile))
    }

    /// Reads the pair again; on failure the pair in use stays and the error says why.
    public func reload() throws {
        let pair = try Self.load(certFile: certFile, keyFile: keyFile)
        current.withLock { $0 = pair }
    }

    /// The server's TLS: TLS 1.2 at least, the current pair for every handshake. (Hummingbird's
    /// HTTP/2 channel adds ALPN for `h2` and `http/1.1`.)
    public var configuration: TLSConfiguration {
        let pair = current.withLock { $0 }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key)
        )
        tls.minimumTLSVersion = .tlsv12
        tls.sslContextCallback = { [self] _, promise in
            let pair = current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return tls
    }

    static func load(certFile: String, keyFile: String) throws -> Pair {
        try readable(certFile, variable: "TLS_CERT_FILE")
        try readable(keyFile, variable: "TLS_KEY_FILE")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certFile)
        } catch {
            throw TLSSetupError(variable: "TLS_CERT_FILE", reason: "\(certFile) does not hold a PEM certificate")
        }
        guard !chain.isEmpty else {
            throw TLSSetupError(variable: "TLS_CERT_FILE", reason: "\(certFile) does not hold a PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            // The library's error could carry the file's bytes; none of it is repeated.
            throw TLSSetupError(
                variable: "TLS_KEY_FILE", reason: "\(keyFile) does not hold an unencrypted PEM private key")
        }
        guard keyMatches(chain[0], key) else {
            throw TLSSetupError(
                variable: "TLS_KEY_FILE", reason: "the key in \(keyFile) does not match the certificate in \(certFile)")
        }
        return Pair(chain: chain, key: key)
    }

    private static func readable(_ path: String, variable: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TLSSetupError(variable: variable, reason: "\(path) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw TLSSetupError(variable: variable, reason: "\(path) is a directory, not a PEM file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TLSSetupError(variable: variable, reason: "\(path) cannot be read (no permission)")
        }
    }

    /// Whether `key` is the private half of the certificate's public key: a context built from a
    /// mismatched pair fails (BoringSSL checks the pair when the key is set).
    private static func keyMatches(_ certificate: NIOSSLCertificate, _ key: NIOSSLPrivateKey) -> Bool {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        return (try? NIOSSLContext(configuration: configuration)) != nil
    }
}

/// Reloads the certificate and key on SIGHUP for as long as the server runs. A reload that fails keeps
/// the pair in use and logs why. Without TLS there is nothing to reload: SIGHUP, which would otherwise
/// end the process, is logged and changes nothing.
struct ReloadService: Service, CustomStringConvertible {
    let tls: ServerTLS?
    let logger: Logger
    var description: String { "ReloadService" }

    func run() async throws {
        let (signals, source) = signalDeliveries(SIGHUP)
        defer { source.cancel() }
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                guard let tls else {
                    logger.notice("SIGHUP: nothing to reload (no TLS_CERT_FILE and TLS_KEY_FILE); the server goes on")
                    continue
                }
                do {
                    try tls.reload()
                    logger.info("TLS certificate and key reloaded", metadata: ["certFile": "\(tls.certFile)"])
                } catch {
                    logger.error(
                        "TLS reload failed; the previous certificate stays in use", metadata: ["cause": "\(error)"])
                }
            }
        }
    }
}
