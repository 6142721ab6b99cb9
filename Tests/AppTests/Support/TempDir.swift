import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// A scratch folder removed at the end of the test.
final class TempDir: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("apptest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ text: String) throws {
        try writeFile(url.appendingPathComponent(name).path, Data(text.utf8))
    }

    var path: String { url.path }
}

/// Writes `bytes` to `path` (created or truncated) without syncing it to disk. Foundation's
/// `Data.write(to:)` syncs every file it writes, on the calling thread: in a test that is one of the
/// two threads of Swift's cooperative pool, and with the suite's SQLite files syncing beside it, a
/// sync could take seconds, stalling every other test's timers and answers (seen: a 2 s connection
/// timeout measured as 14 s). A test's scratch files need no durability.
func writeFile(_ path: String, _ bytes: Data) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    defer { close(fd) }
    try bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
            offset += written
        }
    }
}
