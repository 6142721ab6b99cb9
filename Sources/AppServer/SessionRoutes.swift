import AppCore
import Foundation
import Hummingbird

/// `GET /api/auth/session`, answered the way NextAuth.js answers it: the user and an expiry for a
/// valid session cookie, `{}` otherwise. A bad token is never an error, and is never logged.
func addSessionRoutes(to router: Router<AppRequestContext>, reader: SessionReader, maxAge: TimeInterval = SessionCodec.defaultMaxAge) {
    struct User: Encodable {
        var name: String?
        var email: String?
        var image: String?
    }
    struct Session: Encodable {
        var user: User
        var expires: String
    }
    struct NoSession: Encodable {}

    router.get("/api/auth/session") { request, _ -> Response in
        guard let claims = reader.session(cookieHeaders: request.headers[values: .cookie]) else {
            return .json(.ok, NoSession())
        }
        // Like NextAuth.js, the session's expiry is rolling: now plus the session's max age.
        let expires = RFC3339.string(from: Date().addingTimeInterval(maxAge))
        return .json(.ok, Session(user: User(name: claims.name, email: claims.email, image: claims.picture), expires: expires))
    }
}
