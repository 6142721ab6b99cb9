import AppCore
import Hummingbird

/// `GET /healthz`: 200 while the database answers, 503 otherwise (readiness).
/// `GET /livez`: 200 while the process serves requests, without touching the database (liveness).
func addHealthRoutes(to router: Router<AppRequestContext>, database: AppDatabase) {
    struct Health: Encodable { var status: String }
    router.get("/livez") { _, _ -> Response in
        .json(.ok, Health(status: "ok"))
    }
    router.get("/healthz") { _, _ -> Response in
        await database.ping()
            ? .json(.ok, Health(status: "ok"))
            : .json(.serviceUnavailable, Health(status: "unavailable"))
    }
}
