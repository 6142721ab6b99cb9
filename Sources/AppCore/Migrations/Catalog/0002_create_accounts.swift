extension Migration {
    /// The NextAuth.js adapter's accounts table: one row per linked OAuth/credentials provider.
    static let createAccounts = Migration(
        id: "0002_create_accounts",
        statements: [
            """
            CREATE TABLE accounts (
                id TEXT PRIMARY KEY,
                "userId" TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                type TEXT NOT NULL,
                provider TEXT NOT NULL,
                "providerAccountId" TEXT NOT NULL,
                refresh_token TEXT,
                access_token TEXT,
                expires_at BIGINT,
                token_type TEXT,
                scope TEXT,
                id_token TEXT,
                session_state TEXT,
                UNIQUE (provider, "providerAccountId")
            )
            """,
            #"CREATE INDEX accounts_user_id ON accounts ("userId")"#,
        ])
}
