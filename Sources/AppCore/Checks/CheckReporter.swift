import Logging

/// Reports a check report according to the environment (docs/checks.md, "Reporting, by environment"):
/// production logs errors at error level and alerts, and warnings at warning level; development and
/// staging log every issue as a warning; test logs nothing. Info results go to the info log only.
public struct CheckReporter: Sendable {
    let environment: AppEnvironment
    let logger: Logger
    let alerts: (any AlertSink)?

    public init(environment: AppEnvironment, logger: Logger, alerts: (any AlertSink)?) {
        self.environment = environment
        self.logger = logger
        self.alerts = alerts
    }

    public func report(_ report: CheckReport) async {
        guard environment != .test else { return }
        var toSend: [Alert] = []
        for result in report.results {
            let metadata: Logger.Metadata = ["check": "\(result.id)", "hint": "\(result.hint)"]
            switch (result.level, environment) {
            case (.info, _):
                logger.info("\(result.message)", metadata: metadata)
            case (.error, .production):
                logger.error("\(result.message)", metadata: metadata)
                toSend.append(Alert(checkID: result.id, message: result.message))
            case (.warning, _), (.error, _):
                logger.warning("\(result.message)", metadata: metadata)
            }
        }
        guard let alerts, !toSend.isEmpty else { return }
        // Sent side by side, so startup waits at most one send timeout however many errors there are.
        await withTaskGroup(of: Void.self) { group in
            for alert in toSend {
                group.addTask { await alerts.send(alert) }
            }
        }
    }
}
