extension Migration {
    /// The NextAuth.js adapter's sessions table (database sessions).
    static let createSessions = Migration(
        id: "0003_create_sessions",
        statements: [
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                "sessionToken" TEXT NOT NULL UNIQUE,
                "userId" TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                expires TIMESTAMP NOT NULL
            )
            """,
            #"CREATE INDEX sessions_user_id ON sessions ("userId")"#,
        ])
}
