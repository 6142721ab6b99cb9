import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// Whether a tool a test needs is here. Under `CI=true` every tool counts as present, so a test that
/// needs a missing one runs and fails instead of being skipped: `scripts/test` installs them all.
/// Locally a missing tool skips the test, visibly (`.enabled(if:)` or `Test.cancel`).
enum Tool {
    static var underCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The throwaway PostgreSQL cluster `scripts/test` starts.
    static var postgres: Bool { underCI || ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] != nil }

    /// PgBouncer in transaction pooling mode in front of that cluster (TEST_PGBOUNCER_URL).
    static var pgbouncer: Bool { underCI || ProcessInfo.processInfo.environment["TEST_PGBOUNCER_URL"] != nil }

    /// Node.js, for the dotenv comparison with `util.parseEnv`.
    static var node: Bool { underCI || succeeds(["node", "--version"]) }

    /// Python modules, for the independent checkers in `scripts/`.
    static func python(_ modules: String...) -> Bool {
        underCI || succeeds(["python3", "-c", "import " + modules.joined(separator: ", ")])
    }

    /// Root with util-linux's `unshare`, for a PID namespace of a test's own, whose sysctls it may
    /// tighten without touching the machine's (CI runs as root).
    static var pidNamespace: Bool { underCI || (geteuid() == 0 && succeeds(["unshare", "--version"])) }

    private static func succeeds(_ arguments: [String]) -> Bool {
        (try? runProcessBlocking(arguments))?.status == 0
    }
}
