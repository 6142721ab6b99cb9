import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

// No suite here is `.serialized`: Swift Testing 6.3 already runs at most 2 × cores test cases at once,
// which bounds the load of the process-spawning suites. Child processes are waited for off the
// concurrency pool (`runProcess`): on 2 cores a blocked pool thread stalls every other test.

/// A TCP socket bound to a free loopback port (chosen by the OS), with that address.
func boundLoopbackSocket() throws -> (descriptor: Int32, address: sockaddr_in) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else {
        close(fd)
        throw POSIXError(.EADDRINUSE)
    }
    return (fd, address)
}

/// A loopback port with nothing listening on it (bound by the OS, then released): connections to it
/// are refused. No fixed port numbers in tests.
func refusedPort() throws -> Int {
    let (fd, address) = try boundLoopbackSocket()
    close(fd)
    return Int(UInt16(bigEndian: address.sin_port))
}

/// What a finished child process printed.
struct ProcessOutput: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: String
    var out: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to completion on a thread of its own, so the wait never holds one of the few
/// threads Swift concurrency runs tests on (two on this machine): a blocked pool stalls every test.
func runProcess(
    _ arguments: [String], executable: URL? = nil, environment: [String: String]? = nil,
    directory: URL? = nil, stdin text: String? = nil
) async throws -> ProcessOutput {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(
                with: Result {
                    try runProcessBlocking(
                        arguments, executable: executable, environment: environment, directory: directory, stdin: text)
                })
        }
    }
}

/// Runs a program to completion, feeding `stdin`; stdout and stderr are drained side by side so a
/// chatty stderr can never block the child. `executable` nil means "find `arguments[0]` on PATH".
/// Blocks its thread: from async code, call `runProcess`.
func runProcessBlocking(
    _ arguments: [String], executable: URL? = nil, environment: [String: String]? = nil,
    directory: URL? = nil, stdin text: String? = nil
) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable ?? URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let input = Pipe()
    let out = Pipe()
    let err = Pipe()
    process.standardInput = text == nil ? FileHandle.nullDevice : input
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errData = LockedData()
    let drained = DispatchGroup()
    drained.enter()
    // A thread of its own, not `DispatchQueue.global()`: on Linux Swift concurrency runs its
    // cooperative threads on dispatch's default global queue, whose threads are few (about one per
    // core) and are not added for a blocked one. Each child's drain held one of them while the child
    // ran, and a few children at once stalled every test for seconds (seen with gdb: eight threads of
    // that queue in this read, a 2 s connection timeout measured as 14 s).
    Thread.detachNewThread {
        errData.set(err.fileHandleForReading.readDataToEndOfFile())
        drained.leave()
    }
    if let text {
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData.get(), as: UTF8.self))
}

private final class LockedData: Sendable {
    private let storage = Mutex(Data())
    func set(_ data: Data) { storage.withLock { $0 = data } }
    func get() -> Data { storage.withLock { $0 } }
}
