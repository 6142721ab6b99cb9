import AppCore
import ArgumentParser
import Foundation

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Session tokens in NextAuth.js's own format, for development and tests.",
        subcommands: [Mint.self]
    )

    struct Mint: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mint",
            abstract:
                "Print a session token signed with NEXTAUTH_SECRET (v4) or Auth.js's current key (v5: AUTH_SECRET_3/2/1, else AUTH_SECRET, else NEXTAUTH_SECRET). Refused in production.",
            discussion:
                "Example:\n  curl --cookie \"next-auth.session-token=$(app session mint --email ada@example.com)\" localhost:8080/api/auth/session"
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case v4, v5 }

        @Option(help: "The user's email.") var email: String
        @Option(help: "The user's name.") var name: String?
        @Option(name: .customLong("max-age"), help: "Seconds until the token expires (default 30 days).") var maxAge:
            Int = Int(SessionCodec.defaultMaxAge)
        @Option(
            help:
                "v4 (NextAuth.js, next-auth.session-token) or v5 (Auth.js, authjs.session-token). Default: v4 when NEXTAUTH_SECRET is set, else v5."
        )
        var format: Format?
        @OptionGroup var env: EnvironmentOption

        func run() throws {
            let config = try loadConfig(environment: env.environment)
            guard config.environment != .production else {
                throw fail("app session mint is refused in production")
            }
            guard maxAge > 0 else {
                throw fail("--max-age must be a positive number of seconds", exitCode: .validationFailure)
            }
            let reader = SessionReader(config: config)
            let chosen = format ?? (config.nextAuthSecret != nil ? .v4 : .v5)
            let sessionFormat: SessionFormat = chosen == .v4 ? .nextAuthV4 : .authJSV5(salt: SessionCookie.authJS)
            guard let secret = reader.secret(for: sessionFormat) else {
                let variable =
                    chosen == .v4 ? "NEXTAUTH_SECRET" : "AUTH_SECRET (or AUTH_SECRET_1..3, or NEXTAUTH_SECRET)"
                throw fail("\(variable) is not set")
            }
            print(
                try SessionCodec.encode(
                    name: name, email: email, secret: secret, format: sessionFormat, maxAge: TimeInterval(maxAge)))
        }
    }
}
