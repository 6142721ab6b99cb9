import Foundation

/// sql-migrate's format: every `.sql` file is a migration named by its file name, with
/// `-- +migrate Up` and `-- +migrate Down` sections (`notransaction` on either runs it outside a
/// transaction) and `-- +migrate StatementBegin` / `StatementEnd` around a statement that holds `;`
/// (sql-migrate's own split is by line; the engine's, used here, needs no such hint).
/// Files apply in the order of their leading number. sql-migrate's history is
/// `gorp_migrations(id, applied_at)`, one row per applied file name.
enum SQLMigrateFormat {
    static let prefix = "-- +migrate "

    static func hasMarker(_ text: String) -> Bool {
        // Cheap first: every marker starts with the prefix.
        guard text.containsBytes(prefix) else { return false }
        return text.lines(omittingEmpty: true).contains {
            $0.hasPrefix(prefix + "Up") || $0.hasPrefix(prefix + "Down")
        }
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        var migrations: [Migration] = []
        for name in folder.sqlFiles {
            guard Migration.version(of: name) != nil else {
                throw MigrationsInvalid(
                    file: name, line: nil,
                    reason: "the name must start with a number, which orders the migrations, as in 1_create_widgets.sql"
                )
            }
            migrations.append(try parse(folder.text(of: name), file: name, dialect: dialect))
        }
        return migrations
    }

    /// One direction's text, in pieces: plain SQL (split into statements here) and the blocks between
    /// `StatementBegin` and `StatementEnd` (each one statement, as written).
    struct Section {
        var pieces: [(text: String, line: Int, isBlock: Bool)] = []
        var transactional = true
        var seen = false
        /// Every line of the section, for the checksum.
        var lines: [Substring] = []

        mutating func add(_ line: Substring, number: Int, inBlock: Bool) {
            lines.append(line)
            if let last = pieces.last, last.isBlock == inBlock {
                pieces[pieces.count - 1].text += "\n" + line
            } else {
                pieces.append((String(line), number, inBlock))
            }
        }
    }

    static func parse(_ text: String, file: String, dialect: SQLEngine) throws(MigrationsInvalid) -> Migration {
        var up = Section()
        var down = Section()
        var current: Bool? = nil  // true: Up, false: Down
        var blockStart: Int? = nil
        for (index, line) in text.lines().enumerated() {
            let number = index + 1
            if line.hasPrefix(prefix) {
                let words = line.dropFirst(prefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" })
                switch words.first {
                case "Up", "Down":
                    guard blockStart == nil else {
                        throw MigrationsInvalid(
                            file: file, line: number, reason: "-- +migrate \(words[0]) inside a StatementBegin block")
                    }
                    current = words.first == "Up"
                    let noTransaction = words.dropFirst().contains("notransaction")
                    if current == true {
                        up.seen = true
                        up.transactional = !noTransaction
                    } else {
                        down.seen = true
                        down.transactional = !noTransaction
                    }
                case "StatementBegin":
                    guard current != nil else { continue }
                    blockStart = number
                    // An empty piece starts the block, so it never joins a block before it.
                    if current == true {
                        up.pieces.append(("", number, true))
                    } else {
                        down.pieces.append(("", number, true))
                    }
                case "StatementEnd":
                    guard current != nil else { continue }
                    guard blockStart != nil else {
                        throw MigrationsInvalid(
                            file: file, line: number, reason: "-- +migrate StatementEnd without StatementBegin")
                    }
                    blockStart = nil
                    if current == true {
                        up.pieces.append(("", number, false))
                    } else {
                        down.pieces.append(("", number, false))
                    }
                case let other:
                    throw MigrationsInvalid(
                        file: file, line: number,
                        reason:
                            "unknown command \"-- +migrate \(other ?? "")\" (known: Up, Down, StatementBegin, StatementEnd)"
                    )
                }
                continue
            }
            guard let direction = current else { continue }  // before the first section: not SQL sql-migrate runs
            if direction {
                up.add(line, number: number, inBlock: blockStart != nil)
            } else {
                down.add(line, number: number, inBlock: blockStart != nil)
            }
        }
        if let blockStart {
            throw MigrationsInvalid(
                file: file, line: blockStart, reason: "-- +migrate StatementBegin is not closed by StatementEnd")
        }
        guard up.seen else {
            throw MigrationsInvalid(file: file, line: nil, reason: "no -- +migrate Up section")
        }
        // sql-migrate hands a block to the driver in one call, and the engine runs every statement in
        // it; the server runs statements one by one, so a block is split as the engine splits it too
        // (kept whole, SQLite ran only its first statement).
        func statements(_ section: Section) throws(MigrationsInvalid) -> [String] {
            var result: [String] = []
            for piece in section.pieces {
                result += try MigrationFolder.statements(
                    piece.text, file: file, lineOffset: piece.line - 1, dialect: dialect)
            }
            return result
        }
        return Migration(
            id: String(file.dropLast(4)), statements: try statements(up), down: down.seen ? try statements(down) : nil,
            transactional: up.transactional, downTransactional: down.transactional,
            checksum: Migration.checksum(ofSection: up.lines.joined(separator: "\n")), toolKey: file
        )
    }
}

extension MigrationFormat {
    static let sqlMigrate = MigrationFormat(declaring: "sql-migrate")
}

extension SQLMigrateFormat: MigrationTool {
    static var format: MigrationFormat { .sqlMigrate }
    static let markers = ["+migrate"]
    static var history: any ToolHistory { SQLMigrateHistory() }

    /// A `-- +migrate Up` or `-- +migrate Down` line in any `.sql` file.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.anySQLText(hasMarker)
    }

    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)-\(slug).sql", "-- +migrate Up\n\n-- +migrate Down\n")]
    }
}
