import AppCore
import ArgumentParser

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract:
            "Print a new secret: 64 lowercase hex characters from the system CSPRNG (replaces `openssl rand -hex 32`).",
        discussion: "Example:\n  echo \"MIGRATION_SECRET=$(app secret)\" >> .env.local"
    )

    func run() {
        print(SecretGenerator.hex())
    }
}
