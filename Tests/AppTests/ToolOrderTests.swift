import Foundation
import Testing

@testable import AppCore

/// Each tool applies its folder in its own order, read from its source; here on names whose order
/// as numbers and as text disagree. (Prisma: ToolFormatReadingTests; Supabase, yoyo, Atlas: their
/// suites, as their folders need more than names.)
@Suite("each tool's own order")
struct ToolOrderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var format: String
        var files: [String: String]
        var order: [String]
        var testDescription: String { "\(format): \(order.joined(separator: " < "))" }
    }

    static let cases: [Case] = [
        // pkg/dbmate/db.go FindMigrations: sort.Slice by FileName, as text.
        Case(
            format: "dbmate",
            files: ["9_a.sql": "-- migrate:up\nSELECT 1;\n", "10_b.sql": "-- migrate:up\nSELECT 1;\n"],
            order: ["10_b", "9_a"]),
        // dbmate reads any `^(\d+).*\.sql$` name: no `_` needed after the version.
        Case(
            format: "dbmate",
            files: ["001.sql": "-- migrate:up\nSELECT 1;\n", "20260101-b.sql": "-- migrate:up\nSELECT 1;\n"],
            order: ["001", "20260101-b"]),
        // golang-migrate: versions parsed as numbers (source.Parse) and kept in numeric order.
        Case(
            format: "golang-migrate", files: ["9_a.up.sql": "SELECT 1;", "10_b.up.sql": "SELECT 1;"],
            order: ["9_a", "10_b"]),
        // sql-migrate byId: by the leading number, then by the whole name.
        Case(
            format: "sql-migrate",
            files: [
                "9-a.sql": "-- +migrate Up\nSELECT 1;\n", "10-b.sql": "-- +migrate Up\nSELECT 1;\n",
                "10-a.sql": "-- +migrate Up\nSELECT 1;\n",
            ],
            order: ["9-a", "10-a", "10-b"]),
        // Flyway: the version's parts as numbers.
        Case(
            format: "flyway", files: ["V9__a.sql": "SELECT 1;", "V10__b.sql": "SELECT 1;", "V9.1__c.sql": "SELECT 1;"],
            order: ["V9__a", "V9.1__c", "V10__b"]),
        // Drizzle: the journal's order (drizzle-orm's migrator walks its entries), whatever the tags.
        Case(
            format: "drizzle",
            files: [
                "meta/_journal.json":
                    #"{"version":"7","dialect":"sqlite","entries":[{"idx":0,"version":"7","when":1,"tag":"9_a","breakpoints":true},{"idx":1,"version":"7","when":2,"tag":"10_b","breakpoints":true}]}"#,
                "9_a.sql": "SELECT 1;", "10_b.sql": "SELECT 1;",
            ],
            order: ["9_a", "10_b"]),
        // goose: the version as a number.
        Case(
            format: "goose", files: ["9_a.sql": "-- +goose Up\n", "00010_b.sql": "-- +goose Up\n"],
            order: ["9_a", "00010_b"]),
        // sqlx: the version as a number (i64).
        Case(format: "sqlx", files: ["9_a.sql": "SELECT 1;", "00010_b.sql": "SELECT 1;"], order: ["9_a", "00010_b"]),
        // Diesel: MigrationVersion compares as text.
        Case(
            format: "diesel", files: ["9_a/up.sql": "SELECT 1;", "10_b/up.sql": "SELECT 1;"], order: ["10_b", "9_a"]),
    ]

    @Test("names whose number and text orders disagree apply in the tool's order", arguments: cases)
    func order(_ item: Case) throws {
        let folder = try MigrationsDir()
        for (name, text) in item.files {
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(name).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try folder.write(name, text)
        }
        let catalog = MigrationCatalog.load(folder: folder.path, format: item.format, dialect: .sqlite)
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.migrations.map(\.id) == item.order)
    }
}
