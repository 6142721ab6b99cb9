import AppCore
import Foundation
import Logging

// Times the migrator applying N generated migrations to a fresh database, against the same SQL run by
// the engine's own command-line client (sqlite3 / psql) in one transaction per migration, with the same
// history-row insert. Prints figures only; scripts/bench runs it and docs/benchmarks.md records them.
//
// usage: AppBench sqlite DIR [N]
//        AppBench postgres ADMIN_URL [N]
//        AppBench folder sqlite|postgres DIR|ADMIN_URL N APP_BINARY [DBMATE_BINARY]
//          (a folder of N dbmate files, two statements each, applied by `app migrate` and by `dbmate up`)

let arguments = CommandLine.arguments
if arguments.count >= 6, arguments[1] == "folder" {
    let dbmate = arguments.count >= 7 ? arguments[6] : "dbmate"
    try await FolderBench(
        engine: arguments[2], target: arguments[3], count: Int(arguments[4]) ?? 200, app: arguments[5], dbmate: dbmate
    ).run()
    exit(0)
}
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: AppBench sqlite DIR [N] | AppBench postgres ADMIN_URL [N]\n".utf8))
    exit(2)
}
let engine = arguments[1]
let target = arguments[2]
let count = arguments.count > 3 ? Int(arguments[3]) ?? 200 : 200
// Medians of 7 rounds, the two alternating: this machine's speed changes by ±10% from one moment to
// the next, and a best of a few rounds of each side turned that into the ratio.
let rounds = 7

var logger = Logger(label: "bench")
logger.logLevel = .error

func generated(_ n: Int) -> [Migration] {
    (1...n).map { i in
        Migration(
            id: String(format: "%04d_bench_%d", i, i),
            statements: [
                "CREATE TABLE bench_\(i) (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT)",
                "CREATE INDEX bench_\(i)_name ON bench_\(i) (name)",
            ])
    }
}

/// The baseline script: the same statements and history rows, one BEGIN/COMMIT per migration. On
/// SQLite in the mode the migrator runs in: a write-ahead log, commits not synced one by one (the
/// client's close syncs the log, as the migrator's run does at its end).
func baselineScript(_ migrations: [Migration], engine: String) -> String {
    var sql = engine == "sqlite" ? "PRAGMA journal_mode = WAL;\nPRAGMA synchronous = NORMAL;\n" : ""
    sql +=
        "CREATE TABLE app_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied');\n"
    for m in migrations {
        sql += "BEGIN;\n"
        for statement in m.statements { sql += statement + ";\n" }
        sql +=
            "INSERT INTO app_migrations (id, checksum, applied_at, execution_ms) VALUES ('\(m.id)', '\(m.checksum)', '2026-01-01T00:00:00Z', 0);\n"
        sql += "COMMIT;\n"
    }
    return sql
}

func run(_ tool: String, _ args: [String], stdin: String) throws -> Duration {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + args
    let input = Pipe()
    process.standardInput = input
    process.standardOutput = FileHandle.nullDevice
    let started = ContinuousClock.now
    try process.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    let elapsed = ContinuousClock.now - started
    guard process.terminationStatus == 0 else { throw BenchError("\(tool) failed") }
    return elapsed
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

let migrations = generated(count)
let script = baselineScript(migrations, engine: engine)
var ours: [Double] = []
var baseline: [Double] = []

for round in 0..<rounds {
    switch engine {
    case "sqlite":
        let ourPath = "\(target)/ours-\(round).sqlite"
        let basePath = "\(target)/base-\(round).sqlite"
        let database = try AppDatabase(location: .sqlite(path: ourPath), logger: logger)
        let started = ContinuousClock.now
        let applied = try await Migrator(
            database: database, migrations: migrations, lockTimeout: .seconds(30), logger: logger
        ).migrate()
        ours.append(seconds(ContinuousClock.now - started))
        guard applied.count == count else { throw BenchError("applied \(applied.count) of \(count)") }
        baseline.append(seconds(try run("sqlite3", [basePath], stdin: script)))
    case "postgres":
        let urls = try await createDatabases(
            admin: target, ["bench_ours_\(round)_\(getpid())", "bench_base_\(round)_\(getpid())"])
        let database = try AppDatabase(location: try DatabaseLocation(url: urls[0]), logger: logger)
        let elapsed = try await database.withRunning {
            let started = ContinuousClock.now
            let applied = try await Migrator(
                database: database, migrations: migrations, lockTimeout: .seconds(30), logger: logger
            ).migrate()
            guard applied.count == count else { throw BenchError("applied \(applied.count) of \(count)") }
            return ContinuousClock.now - started
        }
        ours.append(seconds(elapsed))
        var components = URLComponents(string: urls[1])!
        components.query = nil
        baseline.append(seconds(try run("psql", ["-q", "-v", "ON_ERROR_STOP=1", components.string!], stdin: script)))
    default:
        throw BenchError("unknown engine \(engine)")
    }
}

let ourMedian = ours.sorted()[rounds / 2]
let baseMedian = baseline.sorted()[rounds / 2]
let tool = engine == "sqlite" ? "sqlite3" : "psql"
func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
print(
    "\(engine): \(count) migrations, median of \(rounds): migrator \(fmt(ourMedian)) s, \(tool) \(fmt(baseMedian)) s, ratio \(String(format: "%.2f", ourMedian / baseMedian))x (goal <= \(engine == "sqlite" ? "1.2" : "1.5")x)"
)
