import AppTestSeams

/// Runs `run` on SQLite's thread right after each commit of a connection to the file at `path`
/// opened from now on, before that connection reads anything more (Tests/AppTestSeams). One file at a
/// time in the process; `stop()` before the file goes. `run` must not open an SQLite connection
/// in this process (another process's is fine).
final class AfterCommitSeam: Sendable {
    private final class Handler: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    private let handler: Unmanaged<Handler>

    struct Busy: Error {}

    init(path: String, _ run: @escaping @Sendable () -> Void) throws {
        handler = Unmanaged.passRetained(Handler(run))
        let called: app_test_after_commit = { context in
            guard let context else { return }
            Unmanaged<Handler>.fromOpaque(context).takeUnretainedValue().run()
        }
        guard app_test_watch_commits(path, called, handler.toOpaque()) == 0 else {
            handler.release()
            throw Busy()
        }
    }

    /// No handler call is under way once this returns, and none follows.
    func stop() {
        app_test_unwatch_commits()
        handler.release()
    }
}
