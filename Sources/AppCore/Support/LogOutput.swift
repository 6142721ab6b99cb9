import Foundation
import Logging
import Synchronization

/// Where log lines go: standard error, or (for tests) a closure. Both log formats write through it.
public struct LogOutput: Sendable {
    let write: @Sendable (String) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    func write(_ line: String) { write(line) }

    /// Standard error, a whole line per write, one writer at a time.
    public static let standardError: LogOutput = {
        let lock = Mutex(())
        return LogOutput { line in
            lock.withLock { _ in
                var bytes = Array(line.utf8)
                var offset = 0
                while offset < bytes.count {
                    let written = bytes.withUnsafeMutableBytes { buffer in
                        Foundation.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    }
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }()
}

extension LogEvent {
    /// The metadata a line carries: the handler's own, then its provider's, then the call's, then the
    /// call's error as `error.message` and `error.type` (as swift-log's `StreamLogHandler` writes it);
    /// a later one wins a key.
    func lineMetadata(over base: Logger.Metadata, provider: Logger.MetadataProvider?) -> Logger.Metadata {
        var merged = base
        if let provided = provider?.get() { merged.merge(provided) { $1 } }
        if let metadata { merged.merge(metadata) { $1 } }
        if let error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return merged
    }
}
