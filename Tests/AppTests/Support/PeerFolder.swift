import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// Four migrations that leave tables, an index, a view and rows; each with a down section.
enum PeerFolder {
    static let dbmate = [
        "20260101000001_create_authors.sql":
            "-- migrate:up\nCREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n-- migrate:down\nDROP TABLE authors;\n",
        "20260101000002_create_books.sql":
            "-- migrate:up\nCREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES authors (id), title TEXT);\nCREATE INDEX books_author ON books (author_id);\n-- migrate:down\nDROP TABLE books;\n",
        "20260101000003_seed.sql":
            "-- migrate:up\nINSERT INTO authors (id, name) VALUES (1, 'Le Guin; Ursula');\nINSERT INTO books (id, author_id, title) VALUES (1, 1, 'it''s');\n-- migrate:down\nDELETE FROM books;\nDELETE FROM authors;\n",
        "20260101000004_create_view.sql":
            "-- migrate:up\nCREATE VIEW titles AS SELECT title FROM books;\n-- migrate:down\nDROP VIEW titles;\n",
    ]

    /// The same migrations in sql-migrate's format.
    static var sqlMigrate: [String: String] {
        Dictionary(
            uniqueKeysWithValues: dbmate.map { name, text in
                (
                    name,
                    text.replacingOccurrences(of: "-- migrate:up", with: "-- +migrate Up").replacingOccurrences(
                        of: "-- migrate:down", with: "-- +migrate Down")
                )
            })
    }

    /// The same migrations in yoyo's format: `<id>.sql` with a `-- depends:` header naming the one
    /// before, and `<id>.rollback.sql`.
    static var yoyo: [String: String] {
        var files: [String: String] = [:]
        let names = dbmate.keys.sorted()
        for (index, name) in names.enumerated() {
            let text = dbmate[name]!
            let parts = text.components(separatedBy: "-- migrate:down\n")
            let up = parts[0].replacingOccurrences(of: "-- migrate:up\n", with: "")
            let depends = index == 0 ? "" : String(names[index - 1].dropLast(4))
            files[name] = "-- \(name)\n-- depends: \(depends)\n\n" + up
            files[String(name.dropLast(4)) + ".rollback.sql"] = parts.count > 1 ? parts[1] : ""
        }
        return files
    }

    static func ids(_ files: [String: String]) -> [String] { files.keys.sorted().map { String($0.dropLast(4)) } }

    /// The first two files (`first: true`) or all.
    static func half(_ files: [String: String]) -> [String: String] {
        files.filter { files.keys.sorted().prefix(2).contains($0.key) }
    }
}
