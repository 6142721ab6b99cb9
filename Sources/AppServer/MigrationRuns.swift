import Foundation
import HTTPTypes
import Hummingbird

/// An answer the migrate endpoint gives, kept so that an asynchronous run can give it later.
struct Answer: Sendable {
    var status: HTTPResponse.Status
    var body: Data

    var response: Response { .json(status, data: body) }
}

/// Runs started by `POST /api/migrate` with `Prefer: respond-async` (RFC 7240). Each goes on without
/// its caller; its answer is kept for `GET /api/migrate/runs/<id>` for an hour (the newest 100 runs).
/// Run ids are random (122 bits), so one caller cannot guess another's run; the gate guards them anyway.
actor MigrationRuns {
    enum State: Sendable {
        case running
        case done(Answer)
    }

    private var runs: [String: (started: ContinuousClock.Instant, state: State)] = [:]
    private var tasks: [String: Task<Void, Never>] = [:]
    static let keep = Duration.seconds(3600)
    static let limit = 100

    /// Starts `work` in a task of its own and returns the run's id at once.
    func start(_ work: @Sendable @escaping (String) async -> Answer) -> String {
        prune()
        let id = UUID().uuidString.lowercased()
        runs[id] = (ContinuousClock.now, .running)
        tasks[id] = Task {
            let answer = await work(id)
            self.finish(id, answer)
        }
        return id
    }

    func state(_ id: String) -> State? {
        runs[id]?.state
    }

    /// Waits for every run still going (graceful shutdown).
    func drain() async {
        for task in tasks.values { await task.value }
    }

    private func finish(_ id: String, _ answer: Answer) {
        runs[id]?.state = .done(answer)
        tasks[id] = nil
    }

    /// Forgets finished runs older than `keep`, then the oldest finished ones beyond `limit`.
    private func prune() {
        let now = ContinuousClock.now
        for (id, run) in runs where tasks[id] == nil && now - run.started > Self.keep { runs[id] = nil }
        let finished = runs.filter { tasks[$0.key] == nil }.sorted { $0.value.started < $1.value.started }
        for (id, _) in finished.prefix(max(0, runs.count - Self.limit + 1)) { runs[id] = nil }
    }
}

extension Request {
    /// True when a `Prefer` header asks for `respond-async` (RFC 7240: comma-separated preferences,
    /// each a token optionally followed by `=value` and `;` parameters; tokens are case-insensitive).
    var prefersAsync: Bool {
        headers[values: .prefer].contains { value in
            value.split(separator: ",").contains { preference in
                let token = preference.split(separator: ";").first?.split(separator: "=").first ?? ""
                return token.trimmingSpaces().lowercased() == "respond-async"
            }
        }
    }
}

extension HTTPField.Name {
    static let prefer = Self("Prefer")!
    static let preferenceApplied = Self("Preference-Applied")!
}
