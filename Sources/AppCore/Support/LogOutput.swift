import Foundation
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
