extension Migration {
    /// The NextAuth.js adapter's users table.
    static let createUsers = Migration(
        id: "0001_create_users",
        statements: [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                name TEXT,
                email TEXT UNIQUE,
                "emailVerified" TIMESTAMP,
                image TEXT
            )
            """
        ])
}
