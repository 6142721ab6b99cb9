import Foundation

/// goose's format (pressly/goose `internal/sqlparser`): one `<version>_<name>.sql` file per migration,
/// the version the number before the first `_` (at least 1), applied in the order of that number.
/// Sections start at `-- +goose Up` (required, first) and `-- +goose Down`; a statement ends on a line
/// whose last word before any `--` comment ends with `;`, or is the text between
/// `-- +goose StatementBegin` and `-- +goose StatementEnd`; `-- +goose NO TRANSACTION` anywhere runs
/// both sections outside a transaction. Annotations are matched without regard to case and may not be
/// indented. goose's history is `goose_db_version` (`GooseHistory`).
enum GooseFormat {
    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        // goose also runs migrations written in Go, compiled into its binary: such a file here is a
        // migration the server cannot run, so the folder is refused rather than run without it.
        if let go = folder.names.first(where: {
            $0.hasSuffix(".go") && !$0.hasSuffix("_test.go") && !folder.directories.contains($0)
        }) {
            throw MigrationsInvalid(
                file: go, line: nil,
                reason: "a migration written in Go, which only a goose binary built with it can run; "
                    + "write it as SQL, or run this folder with goose")
        }
        var migrations: [Migration] = []
        var byVersion: [Int64: String] = [:]
        for name in folder.sqlFiles {
            let version = try self.version(of: name)
            if let other = byVersion[version] {
                throw MigrationsInvalid(file: name, line: nil, reason: "version \(version) is also used by \(other)")
            }
            byVersion[version] = name
            migrations.append(try parse(folder.text(of: name), file: name, version: version, dialect: dialect))
        }
        return migrations
    }

    /// The version of `<version>_<name>.sql`, as goose's `NumericComponent` reads it: the text before
    /// the first `_` as a 64-bit decimal number, at least 1.
    static func version(of name: String) throws(MigrationsInvalid) -> Int64 {
        guard let separator = name.firstIndex(of: "_") else {
            throw MigrationsInvalid(
                file: name, line: nil, reason: "no _ after the version, as in 20260101120000_create_widgets.sql")
        }
        guard let version = Int64(name[..<separator]) else {
            throw MigrationsInvalid(
                file: name, line: nil, reason: "the text before the first _ is not a version (a whole number)")
        }
        guard version >= 1 else {
            throw MigrationsInvalid(file: name, line: nil, reason: "the version must be 1 or more")
        }
        return version
    }

    /// A goose annotation: a line that starts with `--` and holds `+goose`.
    enum Annotation: String, CaseIterable {
        case up = "Up"
        case down = "Down"
        case statementBegin = "StatementBegin"
        case statementEnd = "StatementEnd"
        case noTransaction = "NO TRANSACTION"
        case envsubOn = "ENVSUB ON"
        case envsubOff = "ENVSUB OFF"
    }

    /// True when `line` is written as an annotation (goose reads it as one, valid or not).
    static func isAnnotation(_ line: Substring) -> Bool {
        line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("--") && line.containsBytes("+goose")
    }

    /// The annotation `line` names, as goose's `extractAnnotation` reads it.
    static func annotation(_ line: Substring, file: String, number: Int) throws(MigrationsInvalid) -> Annotation {
        func invalid(_ why: String) -> MigrationsInvalid {
            MigrationsInvalid(file: file, line: number, reason: "\"\(line.prefix(80))\": \(why)")
        }
        if line.hasPrefix(" ") || line.hasPrefix("\t") { throw invalid("an annotation may not be indented") }
        var command = line.replacingOccurrences(of: "--", with: "")
        if let first = command.range(of: "+goose") { command.removeSubrange(first) }
        if command.containsBytes("+goose") { throw invalid("more than one +goose") }
        let name = command.trimmingSpaces()
        guard !name.isEmpty else { throw invalid("an empty annotation") }
        guard let found = Annotation.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            let known = Annotation.allCases.map(\.rawValue).joined(separator: ", ")
            throw invalid("unknown annotation (known: \(known))")
        }
        return found
    }

    /// True when the text has a `-- +goose Up` line, which goose requires of every file.
    static func hasUp(_ text: String) -> Bool {
        guard text.containsBytes("+goose") else { return false }
        return text.lines(omittingEmpty: true).contains { line in
            isAnnotation(line) && (try? annotation(line, file: "", number: 0)) == .up
        }
    }

    /// True when goose ends a statement at this line: its last word before a word that starts with
    /// `--` ends with `;`.
    static func endsStatement(_ line: Substring) -> Bool {
        var last: Substring = ""
        for word in line.split(whereSeparator: {
            $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}"
        }) {
            if word.hasPrefix("--") { break }
            last = word
        }
        return last.hasSuffix(";")
    }

    /// One direction's text as goose cuts it: plain text ended at a line that ends a statement, and
    /// `StatementBegin` blocks; each is what goose hands the database in one call.
    struct Section {
        var chunks: [(text: String, line: Int)] = []
        var seen = false
        /// The section's lines as written, for the checksum.
        var lines: [Substring] = []
    }

    static func parse(_ text: String, file: String, version: Int64, dialect: SQLEngine) throws(MigrationsInvalid)
        -> Migration
    {
        enum State { case start, up, upBlock, down, downBlock }
        var state = State.start
        var up = Section()
        var down = Section()
        var transactional = true
        var buffer = ""
        var bufferLine = 0
        var blockLine = 0
        func invalid(_ number: Int?, _ why: String) -> MigrationsInvalid {
            MigrationsInvalid(file: file, line: number, reason: why)
        }
        func store() {
            let chunk = (text: buffer, line: bufferLine)
            if state == .up || state == .upBlock { up.chunks.append(chunk) } else { down.chunks.append(chunk) }
            buffer = ""
        }
        func unfinished(_ number: Int?) -> MigrationsInvalid {
            invalid(
                number ?? bufferLine,
                "a statement that is not ended by ; (goose ends a statement at a line whose last word ends with ;)")
        }
        for (index, line) in text.lines().enumerated() {
            let number = index + 1
            switch state {
            case .up, .upBlock: up.lines.append(line)
            case .down, .downBlock: down.lines.append(line)
            case .start: break
            }
            if state == .start && line.allSatisfy(\.isWhitespace) { continue }
            if isAnnotation(line) {
                switch try annotation(line, file: file, number: number) {
                case .up:
                    guard state == .start else { throw invalid(number, "a second -- +goose Up") }
                    state = .up
                    up.seen = true
                case .down:
                    switch state {
                    case .up: break
                    case .start: throw invalid(number, "-- +goose Down before -- +goose Up")
                    case .down: throw invalid(number, "a second -- +goose Down")
                    case .upBlock, .downBlock: throw invalid(number, "-- +goose Down inside a StatementBegin block")
                    }
                    if !buffer.allSatisfy(\.isWhitespace) { throw unfinished(nil) }
                    buffer = ""
                    state = .down
                    down.seen = true
                    up.lines.removeLast()
                case .statementBegin:
                    switch state {
                    case .up: state = .upBlock
                    case .down: state = .downBlock
                    default:
                        throw invalid(
                            number, "-- +goose StatementBegin outside an Up or Down section, or inside a block")
                    }
                    if !buffer.allSatisfy(\.isWhitespace) { throw unfinished(nil) }
                    buffer = ""
                    blockLine = number
                case .statementEnd:
                    switch state {
                    case .upBlock, .downBlock:
                        store()
                        state = state == .upBlock ? .up : .down
                    default: throw invalid(number, "-- +goose StatementEnd without StatementBegin")
                    }
                case .noTransaction:
                    transactional = false
                case .envsubOn:
                    // goose would put the process's environment variables into the SQL. A server's
                    // environment holds its secrets, and `${VAR}` run as written is not what the author meant.
                    throw invalid(
                        number,
                        "-- +goose ENVSUB ON puts environment variables into the SQL; the server does not substitute them "
                            + "(its environment holds its secrets) and never runs ${VAR} as written: write the values in the file"
                    )
                case .envsubOff:
                    break
                }
                continue
            }
            // Comments and blank lines between statements are not part of any.
            if buffer.isEmpty {
                let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
                if trimmed.hasPrefix("--") || line.isEmpty { continue }
                bufferLine = number
            }
            guard state != .start else { throw invalid(number, "SQL before -- +goose Up belongs to no section") }
            buffer += line + "\n"
            if (state == .up || state == .down) && endsStatement(line) { store() }
        }
        switch state {
        case .start: throw invalid(nil, "no -- +goose Up line; goose requires one")
        case .upBlock, .downBlock: throw invalid(blockLine, "-- +goose StatementBegin is not closed by StatementEnd")
        case .up, .down: if !buffer.allSatisfy(\.isWhitespace) { throw unfinished(nil) }
        }
        // A block is one statement to goose's splitter, but it hands the block to the driver whole, and
        // the engine runs every statement in it (goose's own examples hold several); the engine's split
        // is the one that counts, so blocks are split as the engine splits them, like the rest.
        func statements(_ section: Section) throws(MigrationsInvalid) -> [String] {
            var result: [String] = []
            for chunk in section.chunks {
                result += try MigrationFolder.statements(
                    chunk.text, file: file, lineOffset: chunk.line - 1, dialect: dialect)
            }
            return result
        }
        return Migration(
            id: String(file.dropLast(4)), statements: try statements(up),
            down: down.seen ? try statements(down) : nil,
            transactional: transactional, downTransactional: transactional,
            checksum: Migration.checksum(ofSection: up.lines.joined(separator: "\n")),
            toolKey: String(version), orderKey: [String(version)]
        )
    }
}

extension MigrationFormat {
    static let goose = MigrationFormat(declaring: "goose")
}

extension GooseFormat: MigrationTool {
    static var format: MigrationFormat { .goose }
    static let markers = ["+goose"]
    static var history: any ToolHistory { GooseHistory() }

    /// A `-- +goose Up` line in any `.sql` file. (A folder whose goose markers are all others is
    /// invalid, naming the first: `MigrationFolder.recognise`.)
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.anySQLText(hasUp)
    }

    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        // `goose create <name> sql`'s template.
        [("\(stamp)_\(slug).sql", "-- +goose Up\nSELECT 'up SQL query';\n\n-- +goose Down\nSELECT 'down SQL query';\n")]
    }
}
