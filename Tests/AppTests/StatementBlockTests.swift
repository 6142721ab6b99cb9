import Foundation
import Testing

@testable import AppCore

/// goose's and sql-migrate's `StatementBegin` … `StatementEnd` blocks: the tool hands the block to the
/// driver in one call, and the engine runs every statement in it. The server runs statements one by
/// one (SQLite's prepare runs only the first of a text; PostgreSQL's extended protocol refuses more),
/// so a block is split as the engine splits it, and every statement in it runs.
@Suite("StatementBegin blocks of several statements", .dropsTestDatabases)
struct StatementBlockTests {
    static let folders: [String: [String: String]] = [
        "goose": [
            "1_two.sql": """
            -- +goose Up
            -- +goose StatementBegin
            CREATE TABLE a (id INTEGER);
            CREATE TABLE b (id INTEGER);
            -- +goose StatementEnd

            """
        ],
        "sql-migrate": [
            "1-two.sql": """
            -- +migrate Up
            -- +migrate StatementBegin
            CREATE TABLE a (id INTEGER);
            CREATE TABLE b (id INTEGER);
            -- +migrate StatementEnd

            """
        ],
    ]

    @Test(
        "every statement of a block runs", arguments: Engine.available, ["goose", "sql-migrate"])
    func everyStatementRuns(_ engine: Engine, _ format: String) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(try #require(Self.folders[format]))
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate().count == 1)
        }
        #expect(try await tableNames(db).isSuperset(of: ["a", "b"]))
    }
}
