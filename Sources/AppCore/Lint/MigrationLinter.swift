import Foundation
import SQLKit

/// `MIGRATION_LINT`: what a migrate call does with the linter's findings on the migrations it is
/// about to apply (PostgreSQL; docs/safety.md).
public enum LintMode: String, Sendable, CaseIterable {
    /// Not linted.
    case off
    /// Each warning is logged; the migrations are applied.
    case warn
    /// A migration with a warning is refused (422), and nothing is applied.
    case error
}

/// One finding of the linter on a pending migration, as `app migrate lint --format json`, `GET
/// /api/migrate` and the log show it.
public struct LintFinding: Sendable, Equatable, Codable {
    public enum Level: String, Sendable, Codable { case info, warning }
    public var migration: String
    /// The line of the migration's file the statement starts on (its place in the migration, from 1,
    /// for a built-in migration or a file the linter could not find).
    public var line: Int
    /// squawk's name for the rule.
    public var rule: String
    public var level: Level
    public var table: String?
    /// The table's size from the catalog (`pg_class.reltuples`), for a finding rated by size.
    public var rows: Int?
    public var message: String

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(migration, forKey: .migration)
        try container.encode(line, forKey: .line)
        try container.encode(rule, forKey: .rule)
        try container.encode(level, forKey: .level)
        try container.encode(table, forKey: .table)  // null when none, as documented
        try container.encode(rows, forKey: .rows)
        try container.encode(message, forKey: .message)
    }
}

/// Lints pending migrations on PostgreSQL with squawk's rules (`LintRules`), rating a finding about
/// lock time or a rewrite by the target table's size in the catalog (never a `count(*)`): below
/// `smallTable` rows it is information, at or above it a warning. A table that does not exist yet is
/// empty. Findings about compatibility or lost data are warnings at any size.
public struct MigrationLinter: Sendable {
    /// `MIGRATION_LINT_SMALL_TABLE`.
    public var smallTable: Int
    public static let defaultSmallTable = 10_000

    /// False where the server was built without PostgreSQL's parser (libpg_query), or it could not be
    /// loaded: nothing can be linted.
    public static var available: Bool { PostgresParser.available }

    /// Why nothing can be linted, where `available` is false.
    public static var unavailableReason: String? { PostgresParser.unavailableReason }

    public init(smallTable: Int = MigrationLinter.defaultSmallTable) {
        self.smallTable = smallTable
    }

    static let messages: [String: String] = [
        "require-concurrent-index-creation":
            "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index is built",
        "require-concurrent-index-deletion":
            "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table",
        "ban-concurrent-index-creation-in-transaction":
            "CREATE INDEX CONCURRENTLY cannot run in a transaction: mark the migration to run outside one",
        "adding-field-with-default":
            "a volatile (or generated) default rewrites the whole table under an ACCESS EXCLUSIVE lock",
        "adding-not-nullable-field": "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
        "adding-required-field": "a NOT NULL column without a default fails on a table with rows",
        "adding-foreign-key-constraint":
            "a validated foreign key locks both tables while every row is checked: add it NOT VALID, then VALIDATE",
        "constraint-missing-not-valid":
            "the constraint is checked against every row under a lock that blocks writes: add it NOT VALID, then VALIDATE in another transaction",
        "disallowed-unique-constraint":
            "a UNIQUE constraint builds its index under an ACCESS EXCLUSIVE lock: build the index CONCURRENTLY, then add the constraint USING INDEX",
        "changing-column-type": "changing a column's type can rewrite the table under an ACCESS EXCLUSIVE lock",
        "renaming-column": "renaming a column breaks the running app's queries that use the old name",
        "renaming-table": "renaming a table breaks the running app's queries that use the old name",
        "ban-drop-column": "dropping a column loses its data and breaks queries that still use it",
        "ban-drop-table": "dropping a table loses its data and breaks queries that still use it",
        "ban-drop-database": "dropping a database loses all of its data",
        "adding-serial-primary-key-field":
            "adding a primary key builds its index under an ACCESS EXCLUSIVE lock: build a unique index CONCURRENTLY, then add the key USING INDEX",
        "prefer-robust-stmts":
            "outside a transaction a statement that fails half-way is not undone: use IF [NOT] EXISTS so the migration can run again",
        "transaction-nesting":
            "the server runs this migration in a transaction already: remove its BEGIN/COMMIT, or mark it to run outside one",
        "syntax-error": "PostgreSQL's parser rejects this statement",
    ]

    /// The findings on `migrations` (those about to be applied, in order), with table sizes read on `db`.
    func findings(_ migrations: [Migration], sources: MigrationSources, db: any SQLDatabase) async throws
        -> [LintFinding]
    {
        guard PostgresParser.available else { throw PostgresParser.Unavailable() }
        var raw: [(migration: String, hit: LintRules.Hit)] = []
        for migration in migrations {
            let located = sources.locate(migration)
            let statements = migration.statements.enumerated().map { index, text in
                (text: text, line: located?.lines[index] ?? index + 1)
            }
            do {
                let hits = try LintRules.check(
                    statements, ignores: LintRules.Ignores(located?.text ?? ""),
                    transactional: migration.transactional)
                raw += hits.map { (migration.id, $0) }
            } catch is PostgresParser.ParseError {
                raw.append((migration.id, LintRules.Hit(line: statements.first?.line ?? 1, rule: "syntax-error")))
            }
        }
        let tables = Set(raw.compactMap { LintRules.sizeRated.contains($0.hit.rule) ? $0.hit.table : nil })
        let sizes = try await Self.sizes(Array(tables), db: db)
        return raw.map { migration, hit in
            let rated = LintRules.sizeRated.contains(hit.rule)
            // A table missing from the catalog does not exist yet: empty. A size the catalog does not
            // know yet (never analysed, with pages): treated as large.
            let rows: Int? = rated ? (hit.table.map { sizes[$0] ?? 0 } ?? nil) : nil
            let level: LintFinding.Level = rated && (rows.map { $0 < smallTable } ?? false) ? .info : .warning
            var message = Self.messages[hit.rule] ?? hit.rule
            if rated, let table = hit.table {
                message += rows.map { " (\(table): about \($0) rows)" } ?? " (\(table): size unknown)"
            }
            return LintFinding(
                migration: migration, line: hit.line, rule: hit.rule, level: level, table: hit.table,
                rows: rated ? rows : nil, message: message)
        }
    }

    /// Each table's estimated rows: `reltuples`, or 0 for a table with no pages; nil where the catalog
    /// does not know (never analysed, with pages). Tables missing from the schema are left out.
    static func sizes(_ tables: [String], db: any SQLDatabase) async throws -> [String: Int?] {
        guard !tables.isEmpty else { return [:] }
        let rows = try await db.raw(
            """
            SELECT c.relname AS name, c.reltuples::float8 AS tuples, c.relpages::bigint AS pages
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(\(bind: tables))
            """
        ).all()
        var sizes: [String: Int?] = [:]
        for row in rows {
            let tuples = try row.decode(column: "tuples", as: Double.self)
            let pages = try row.decode(column: "pages", as: Int64.self)
            sizes[try row.decode(column: "name", as: String.self)] =
                tuples >= 0 ? Int(tuples) : (pages == 0 ? 0 : nil)
        }
        return sizes
    }
}

/// Where a folder's migrations came from: each migration's file, found by its statements, and the
/// line each statement starts on there, for the linter's line numbers and squawk's ignore comments.
struct MigrationSources: Sendable {
    let files: [(path: String, text: String)]
    /// The files by the name a migration's id is made of: a file's name without `.sql`, or the
    /// folder a file is in (Prisma's `<id>/migration.sql`).
    let byName: [String: [Int]]

    init(folder: String?) {
        guard let folder, let walker = FileManager.default.enumerator(atPath: folder) else {
            files = []
            byName = [:]
            return
        }
        var files: [(String, String)] = []
        while let path = walker.nextObject() as? String {
            guard path.hasSuffix(".sql"), let data = RegularFile.contents(of: "\(folder)/\(path)"),
                let text = RegularFile.utf8(data)
            else { continue }
            files.append((path, text))
        }
        self.files = files.sorted { $0.0 < $1.0 }
        var byName: [String: [Int]] = [:]
        for (index, file) in self.files.enumerated() {
            let parts = file.path.split(separator: "/", maxSplits: 1)
            let name = parts.count > 1 ? parts[0] : parts[0].dropLast(".sql".count)
            byName[String(name), default: []].append(index)
        }
        self.byName = byName
    }

    /// The file holding `migration`'s statements in order (the one its id names first, then one whose
    /// path holds its id), and the line each starts on; nil when none does. Found by bytes, and by
    /// name before any search: a pending migration was looked for in every file by Foundation's
    /// search (through NSString), 30 ms of a run of 200 pending migrations.
    func locate(_ migration: Migration) -> (text: String, lines: [Int])? {
        // The file its id names exactly (looked up, not searched for); then any whose path holds the id;
        // then the rest.
        let exact = byName[migration.id] ?? []
        var named: [Int] = []
        var others: [Int] = []
        func found(_ index: Int) -> (text: String, lines: [Int])? {
            Self.lines(of: migration.statements, in: files[index].text).map { (files[index].text, $0) }
        }
        for index in exact { if let found = found(index) { return found } }
        for index in files.indices where !exact.contains(index) {
            if files[index].path.containsBytes(migration.id) { named.append(index) } else { others.append(index) }
        }
        for index in named + others { if let found = found(index) { return found } }
        return nil
    }

    /// The line each of `statements` starts on in `text`, found in order; nil when one is not there.
    /// Lines are counted as Swift counts newlines (`Character.isNewline`), from one statement to the next.
    static func lines(of statements: [String], in text: String) -> [Int]? {
        var lines: [Int] = []
        var from = text.startIndex
        var line = 1
        for statement in statements {
            guard let found = text.firstByteRange(of: statement, from: from) else { return nil }
            line = text[from..<found.lowerBound].reduce(line) { $1.isNewline ? $0 + 1 : $0 }
            lines.append(line)
            line = text[found].reduce(line) { $1.isNewline ? $0 + 1 : $0 }
            from = found.upperBound
        }
        return lines
    }
}
