extension Migration {
    /// The NextAuth.js adapter's verification tokens (email sign-in links).
    static let createVerificationTokens = Migration(
        id: "0004_create_verification_tokens",
        statements: [
            """
            CREATE TABLE verification_tokens (
                identifier TEXT NOT NULL,
                token TEXT NOT NULL,
                expires TIMESTAMP NOT NULL,
                PRIMARY KEY (identifier, token)
            )
            """
        ])
}
