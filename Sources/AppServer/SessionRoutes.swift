import AppCore
import Foundation
import HTTPTypes
import Hummingbird

/// `GET /api/auth/session`, answered the way NextAuth.js answers it: the user and an expiry for a
/// valid session cookie, `{}` otherwise. A bad token is never an error, and is never logged.
func addSessionRoutes(
    to router: Router<AppRequestContext>, reader: SessionReader, maxAge: TimeInterval = SessionCodec.defaultMaxAge
) {
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

    router.getAndHead("/api/auth/session") { request, context -> Response in
        guard let found = reader.find(cookieHeaders: request.headers[values: .cookie]) else {
            // No valid session: no Set-Cookie either. This server reads the Next.js app's cookie and is not
            // its owner: a token it cannot read (say, under a key it has not been given yet) is left alone.
            return .json(.ok, NoSession())
        }
        // Like NextAuth.js, the session is rolling: the cookie is re-issued with a new expiry of now plus
        // the session's max age, and the answer's `expires` is that same instant.
        let now = Date()
        let claims = found.claims
        var response = Response.json(
            .ok,
            Session(
                user: User(name: claims.name, email: claims.email, image: claims.picture),
                expires: RFC3339.string(from: now.addingTimeInterval(maxAge))
            ))
        do {
            for cookie in try reader.renewal(of: found, maxAge: maxAge, now: now) {
                response.headers.append(HTTPField(name: .setCookie, value: cookie.headerValue))
            }
        } catch {
            context.logger.error("Session cookie not renewed: \(type(of: error))")
        }
        return response
    }
}
