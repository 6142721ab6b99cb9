import AppCore
import Hummingbird
import Logging

/// `GET /healthz`: 200 while the database answers, 503 otherwise (readiness), with the cause in the log;
/// 503 `shutting down` once SIGTERM has started the drain.
/// `GET /livez`: 200 while the process serves requests, without touching the database (liveness).
func addHealthRoutes(to router: Router<AppRequestContext>, database: AppDatabase, drain: ShutdownDrain, logger: Logger)
{
    struct Health: Encodable { var status: String }
    router.getAndHead("/livez") { _, _ -> Response in
        .json(.ok, Health(status: "ok"))
    }
    router.getAndHead("/healthz") { _, _ -> Response in
        // Shutting down: not ready, so a load balancer sends nothing new.
        if drain.isDraining { return .json(.serviceUnavailable, Health(status: "shutting down")) }
        guard let problem = await database.problem() else { return .json(.ok, Health(status: "ok")) }
        logger.warning("health check: database unavailable", metadata: ["cause": "\(AppDatabase.describe(problem))"])
        return .json(.serviceUnavailable, Health(status: "unavailable"))
    }
}
