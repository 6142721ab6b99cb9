import AppCore
import ArgumentParser

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Print a new secret: 64 lowercase hex characters from the system CSPRNG (replaces `openssl rand -hex 32`)."
    )

    func run() {
        print(SecretGenerator.hex())
    }
}
