import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// A PostgreSQL cluster of a test's own, in a temp folder on a free loopback port, for faults that stop
/// and start the server itself (the shared cluster of scripts/test must stay up). `initdb` and
/// `pg_ctl` come from PATH (scripts/test puts PostgreSQL's bin folder there), run as `postgres` when
/// the tests run as root.
final class OwnCluster: Sendable {
    let dir: TempDir
    let port: Int
    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    init() async throws {
        dir = try TempDir()
        port = try refusedPort()
        if geteuid() == 0 {
            _ = try await runProcess(["chown", "postgres", dir.path])
        }
        try await run("initdb -D \(dir.path)/data -U postgres --auth=trust --no-sync > /dev/null")
    }

    deinit {
        _ = Self.spawnAndWait(Self.shell("pg_ctl -D \(dir.path)/data -m immediate stop"), errors: "/dev/null")
    }

    func start() async throws {
        try await run(
            "pg_ctl -D \(dir.path)/data -l \(dir.path)/log -w -o '-p \(port) -k \(dir.path) -c listen_addresses=127.0.0.1' start > /dev/null"
        )
    }

    /// A fast restart: every client connection is ended.
    func restart() async throws {
        try await run(
            "pg_ctl -D \(dir.path)/data -l \(dir.path)/log -w -m fast -o '-p \(port) -k \(dir.path) -c listen_addresses=127.0.0.1' restart > /dev/null"
        )
    }

    /// `command` in a shell, as `postgres` (through setpriv) when the tests run as root.
    private static func shell(_ command: String) -> [String] {
        geteuid() == 0
            ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "sh", "-c", command]
            : ["sh", "-c", command]
    }

    private func run(_ command: String) async throws {
        let errors = dir.path + "/command.err"
        let status = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: Self.spawnAndWait(Self.shell(command), errors: errors))
            }
        }
        guard status == 0 else {
            throw ClusterFailed(command: command, output: (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")
        }
    }

    /// Runs a command to its end with posix_spawn and waitpid, its stderr into `errors`. Not
    /// Foundation's Process: a `pg_ctl start` run through it stayed a zombie that `waitUntilExit`
    /// never saw end (its exit went unnoticed), so the test hung.
    private static func spawnAndWait(_ arguments: [String], errors: String) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    struct ClusterFailed: Error, CustomStringConvertible {
        var command: String
        var output: String
        var description: String { "\(command): \(output)" }
    }
}
