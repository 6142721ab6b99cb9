import Logging
import ServiceLifecycle
import Synchronization

/// Keeps a flood of refused calls (401) from filling a disk or a log bill: each client's first
/// `perWindow` refusals in a window are logged one by one as usual; the rest are counted, and one
/// line per client says how many there were when the window ends. At most `maxClients` clients are
/// tracked at once; refusals from any others are summed under `client=other`.
final class RefusalLog: Sendable {
    struct Window {
        var started: ContinuousClock.Instant
        var logged = 0
        var suppressed = 0
    }

    let perWindow: Int
    let window: Duration
    let maxClients: Int
    private let clients = Mutex<[String: Window]>([:])

    init(perWindow: Int = 5, window: Duration = .seconds(60), maxClients: Int = 10_000) {
        self.perWindow = perWindow
        self.window = window
        self.maxClients = maxClients
    }

    /// Whether this refusal from `client` gets its own line. Its window, if it ended, is summarised first.
    func admit(_ client: String, logger: Logger, now: ContinuousClock.Instant = .now) -> Bool {
        let (admitted, ended) = clients.withLock { clients -> (Bool, (String, Int)?) in
            // Only a full table asks whether the client is in it: one look-up per refusal otherwise.
            let key = clients.count >= maxClients && clients[client] == nil ? "other" : client
            return tally(&clients[key, default: Window(started: now)], key, now: now)
        }
        if let ended { summarise(ended.0, ended.1, logger) }
        return admitted
    }

    /// Counts one refusal in `entry`, begun again first if its window ended (then returned with what
    /// it suppressed, for a summary): whether the refusal gets its own line.
    private func tally(_ entry: inout Window, _ key: String, now: ContinuousClock.Instant) -> (Bool, (String, Int)?) {
        var ended: (String, Int)?
        if now - entry.started >= window {
            if entry.suppressed > 0 { ended = (key, entry.suppressed) }
            entry = Window(started: now)
        }
        let admitted = entry.logged < perWindow
        if admitted { entry.logged += 1 } else { entry.suppressed += 1 }
        return (admitted, ended)
    }

    /// Writes the summary of every window that has ended, and forgets those clients.
    func flush(logger: Logger, now: ContinuousClock.Instant = .now, all: Bool = false) {
        let summaries = clients.withLock { clients -> [(String, Int)] in
            var summaries: [(String, Int)] = []
            for (client, entry) in clients where all || now - entry.started >= window {
                if entry.suppressed > 0 { summaries.append((client, entry.suppressed)) }
                clients[client] = nil
            }
            return summaries
        }
        for (client, count) in summaries.sorted(by: { $0.0 < $1.0 }) { summarise(client, count, logger) }
    }

    private func summarise(_ client: String, _ count: Int, _ logger: Logger) {
        logger.warning(
            "migrate calls refused and not logged one by one",
            metadata: [
                "client": "\(client)", "refused": "\(count)", "window": "\(window)",
            ])
    }
}

/// Writes the refusal summaries as their windows end, and the rest at shutdown.
struct RefusalLogFlusher: Service, CustomStringConvertible {
    let log: RefusalLog
    let logger: Logger
    var description: String { "RefusalLogFlusher" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                log.flush(logger: logger)
            }
        }
        log.flush(logger: logger, all: true)
    }
}
