import Crypto
import Foundation

/// yoyo's format (yoyo-migrations `yoyo/migrations.py`): every `<id>.sql` of the folder is a migration,
/// `<id>.rollback.sql` beside it its rollback. Directives in the comment lines at the top of a file:
/// `-- depends: <id> …` (several lines add up) and `-- transactional: false`. Migrations apply in
/// the order of yoyo's topological sort: the file names' order, each one held back until the ones it
/// depends on are applied. yoyo's history is `_yoyo_migration`, keyed by the SHA-256 of the id, with
/// `_yoyo_log` and `_yoyo_version` beside it.
enum YoyoFormat {
    struct Directives {
        var depends: [String] = []
        var transactional = true
    }

    /// The directives of `text`'s leading comment lines (until the first line that is neither blank
    /// nor a comment), as yoyo's `parse_metadata_from_sql_comments` reads them.
    static func directives(_ text: String, file: String) throws(MigrationsInvalid) -> Directives {
        var result = Directives()
        var transactional: String?
        for (index, line) in text.lines().enumerated() {
            let trimmed = line.trimmingSpaces()
            guard trimmed.isEmpty || trimmed.hasPrefix("--") else { break }
            let comment = trimmed.dropFirst(2).trimmingSpaces()
            for name in ["depends", "transactional"] where comment.hasPrefix(name) {
                let rest = comment.dropFirst(name.count).drop(while: { $0 == " " || $0 == "\t" })
                guard rest.first == ":" else { continue }
                let value = rest.dropFirst().trimmingSpaces()
                if name == "depends" {
                    result.depends += value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                } else {
                    transactional = (transactional.map { $0 + " " } ?? "") + value
                    switch transactional?.lowercased() {
                    case "true": result.transactional = true
                    case "false": result.transactional = false
                    default:
                        throw MigrationsInvalid(
                            file: file, line: index + 1,
                            reason: "-- transactional: must be true or false, as yoyo reads it")
                    }
                }
            }
        }
        return result
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        let files = folder.names.filter { !folder.directories.contains($0) }
        // yoyo also runs migrations written in Python, and post-apply hooks after every run.
        if let python = files.first(where: { $0.hasSuffix(".py") }) {
            throw MigrationsInvalid(
                file: python, line: nil,
                reason:
                    "a migration written in Python, which only yoyo can run; write it as SQL, or run this folder with yoyo"
            )
        }
        var loaded: [(migration: Migration, depends: [String])] = []
        for file in files where file.hasSuffix(".sql") && !file.hasSuffix(".rollback.sql") {
            let id = String(file.dropLast(4))
            if id.hasPrefix("post-apply") {
                throw MigrationsInvalid(
                    file: file, line: nil,
                    reason: "a post-apply hook, which yoyo runs after every run; the server does not run hooks")
            }
            let text = try folder.text(of: file)
            let directives = try self.directives(text, file: file)
            var down: [String]?
            let rollback = "\(id).rollback.sql"
            if folder.fileExists(rollback) {
                down = try MigrationFolder.statements(
                    folder.text(of: rollback), file: rollback, lineOffset: 0, dialect: dialect)
            }
            loaded.append(
                (
                    Migration(
                        id: id,
                        statements: try MigrationFolder.statements(text, file: file, lineOffset: 0, dialect: dialect),
                        down: down, transactional: directives.transactional,
                        downTransactional: directives.transactional,
                        checksum: Migration.checksum(ofSection: text), toolKey: hash(id)
                    ), directives.depends
                ))
        }
        let order = try sorted(loaded.map { ($0.migration.id, $0.depends) })
        return loaded.map { item in
            let position = order.firstIndex(of: item.migration.id) ?? 0
            return item.migration.ordered(by: [String(position)])
        }
    }

    /// yoyo's migration hash: the SHA-256 hex of the id.
    static func hash(_ id: String) -> String {
        SecretGenerator.hexString(sha256(ofUTF8: id))
    }

    /// yoyo's topological sort (`yoyo/topologicalsort.py`): the ids in the given order, each held back
    /// until every one it depends on is out, then let out in its own place in the order.
    static func sorted(_ items: [(id: String, depends: [String])]) throws(MigrationsInvalid) -> [String] {
        let known = Set(items.map(\.id))
        for item in items {
            if let missing = item.depends.first(where: { !known.contains($0) }) {
                throw MigrationsInvalid(
                    file: "\(item.id).sql", line: nil, reason: "depends on \(missing), which is not in the folder")
            }
        }
        let dependencies = Dictionary(uniqueKeysWithValues: items.map { ($0.id, Set($0.depends)) })
        var queue = Array(items.indices)  // kept sorted: the smallest position is taken first
        var output: [String] = []
        var done: Set<String> = []
        var blockedOn: [String: Set<Int>] = [:]
        while !queue.isEmpty {
            let index = queue.removeFirst()
            let id = items[index].id
            let blockers = dependencies[id, default: []].subtracting(done)
            if blockers.isEmpty {
                output.append(id)
                done.insert(id)
                for blocked in blockedOn.removeValue(forKey: id) ?? [] {
                    if !blockedOn.values.contains(where: { $0.contains(blocked) }) {
                        queue.insert(blocked, at: queue.firstIndex(where: { $0 > blocked }) ?? queue.endIndex)
                    }
                }
            } else {
                for blocker in blockers { blockedOn[blocker, default: []].insert(index) }
            }
        }
        if output.count < items.count {
            let stuck = items.map(\.id).filter { !done.contains($0) }
            throw MigrationsInvalid(
                file: "\(stuck[0]).sql", line: nil,
                reason: "circular dependencies among \(stuck.joined(separator: ", "))")
        }
        return output
    }
}

extension Migration {
    /// The same migration, ordered by `key`.
    func ordered(by key: [String]) -> Migration {
        Migration(
            id: id, statements: statements, down: down, transactional: transactional,
            downTransactional: downTransactional, checksum: checksum, toolKey: toolKey, toolChecksums: toolChecksums,
            orderKey: key, toolStatements: toolStatements)
    }
}

extension MigrationFormat {
    static let yoyo = MigrationFormat(declaring: "yoyo")
}

extension YoyoFormat: MigrationTool {
    static var format: MigrationFormat { .yoyo }
    static let markers = ["depends:"]
    static var history: any ToolHistory { YoyoHistory() }

    /// A `-- depends:` line in any `.sql` file.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.anySQLText { text in
            text.containsBytes("depends")
                && text.lines(omittingEmpty: true).contains { ToolMarkers.marker(of: $0)?.format == .yoyo }
        }
    }

    /// `yoyo new --sql`: `<stamp>-<slug>.sql` with its header, and the rollback beside it.
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)_\(slug).sql", "-- \(slug)\n-- depends: \n\n"), ("\(stamp)_\(slug).rollback.sql", "")]
    }
}
