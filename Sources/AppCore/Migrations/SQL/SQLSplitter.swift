/// Splits a script into statements, the way each engine's own tools do, because neither driver runs
/// more than one statement per call (SQLiteNIO prepares only the first; PostgresNIO's extended
/// protocol refuses more than one command).
///
/// Both dialects know `'…'` (with `''`), `"…"` identifiers, `--` and `/* … */` comments.
/// - PostgreSQL (as psql splits): `E'…'` with backslash escapes, dollar quotes `$$…$$` and
///   `$tag$…$tag$`, nested block comments, no split inside parentheses, and `BEGIN ATOMIC … END`
///   bodies of `CREATE FUNCTION`/`PROCEDURE`.
/// - SQLite (as `sqlite3_complete` decides): `` `…` `` and `[…]` identifiers, and `CREATE TRIGGER … END;`
///   whose body holds `;` (a trigger ends only at `; END ;`, so `CASE … END` inside it does not).
///
/// Statements are returned without their `;`, trimmed; empty and comment-only ones are dropped.
/// Text that ends inside a string, quoted identifier, comment or dollar quote is an error naming the
/// line where that token began.
public enum SQLSplitter {
    public struct Statement: Sendable, Equatable {
        public var text: String
        /// The 1-based line of the statement's first character.
        public var line: Int
    }

    public struct Unterminated: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var what: String
        public var description: String { "line \(line): \(what) is not closed before the end of the text" }
    }

    public static func split(_ text: String, dialect: SQLEngine) throws(Unterminated) -> [Statement] {
        var lexer = Lexer(bytes: Array(text.utf8), dialect: dialect)
        return try lexer.run()
    }
}

private struct Lexer {
    let bytes: [UInt8]
    let dialect: SQLEngine
    var i = 0
    var line = 1
    var statements: [SQLSplitter.Statement] = []

    // The current statement.
    var start = 0
    var startLine = 1
    var hasCode = false
    var codeStart = 0
    var codeLine = 1

    // PostgreSQL (psql's rules).
    var parenDepth = 0
    var beginDepth = 0
    var wordsSeen = 0
    var routine: Bool? = nil  // CREATE [OR REPLACE] FUNCTION|PROCEDURE; nil until known

    // SQLite (sqlite3_complete's states).
    enum TriggerState { case start, normal, explain, create, trigger, semi, end }
    var state = TriggerState.start

    init(bytes: [UInt8], dialect: SQLEngine) {
        self.bytes = bytes
        self.dialect = dialect
        // A leading UTF-8 byte order mark is not SQL.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        start = i
    }

    mutating func run() throws(SQLSplitter.Unterminated) -> [SQLSplitter.Statement] {
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "\n"):
                line += 1
                i += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                i += 1
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"):
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                try blockComment()
            case UInt8(ascii: ";"):
                semicolon()
            case UInt8(ascii: "'"):
                code()
                let escapes = dialect == .postgres && isEscapePrefix()
                try quoted(close: UInt8(ascii: "'"), what: "a string", backslashEscapes: escapes)
                other()
            case UInt8(ascii: "\""):
                code()
                try quoted(close: UInt8(ascii: "\""), what: "a quoted identifier", backslashEscapes: false)
                other()
            case UInt8(ascii: "`") where dialect == .sqlite:
                code()
                try quoted(close: UInt8(ascii: "`"), what: "a quoted identifier", backslashEscapes: false)
                other()
            case UInt8(ascii: "[") where dialect == .sqlite:
                code()
                let begun = line
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "]") { advance() }
                guard i < bytes.count else { throw .init(line: begun, what: "a [bracketed] identifier") }
                i += 1
                other()
            case UInt8(ascii: "$") where dialect == .postgres:
                code()
                if let tagEnd = dollarTagEnd() {
                    try dollarQuoted(tagEnd: tagEnd)
                } else {
                    i += 1
                }
                other()
            case UInt8(ascii: "(") where dialect == .postgres:
                code()
                parenDepth += 1
                i += 1
            case UInt8(ascii: ")") where dialect == .postgres:
                code()
                parenDepth = max(0, parenDepth - 1)
                i += 1
            default:
                code()
                if Self.isIdentifierStart(c) {
                    word()
                } else {
                    i += 1
                    other()
                }
            }
        }
        finish(end: bytes.count)
        return statements
    }

    func peek(_ offset: Int) -> UInt8? {
        i + offset < bytes.count ? bytes[i + offset] : nil
    }

    mutating func advance() {
        if bytes[i] == UInt8(ascii: "\n") { line += 1 }
        i += 1
    }

    /// Marks the statement as holding more than whitespace and comments.
    mutating func code() {
        if !hasCode {
            hasCode = true
            codeStart = i
            codeLine = line
        }
    }

    static func isIdentifierStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || c == UInt8(ascii: "_") || c >= 0x80
    }

    static func isIdentifierPart(_ c: UInt8) -> Bool {
        isIdentifierStart(c) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "$")
    }

    /// `E'…'` / `e'…'`: the quote follows a lone E that is not the end of a longer identifier.
    func isEscapePrefix() -> Bool {
        guard i >= 1, bytes[i - 1] == UInt8(ascii: "E") || bytes[i - 1] == UInt8(ascii: "e") else { return false }
        return i < 2 || !Self.isIdentifierPart(bytes[i - 2])
    }

    mutating func quoted(close: UInt8, what: String, backslashEscapes: Bool) throws(SQLSplitter.Unterminated) {
        let begun = line
        i += 1
        while i < bytes.count {
            let c = bytes[i]
            if backslashEscapes && c == UInt8(ascii: "\\") {
                i += 1
                if i < bytes.count { advance() }
                continue
            }
            if c == close {
                if peek(1) == close {
                    i += 2
                    continue
                }
                i += 1
                return
            }
            advance()
        }
        throw .init(line: begun, what: what)
    }

    mutating func blockComment() throws(SQLSplitter.Unterminated) {
        let begun = line
        var depth = 1
        i += 2
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "*"), peek(1) == UInt8(ascii: "/") {
                i += 2
                depth -= 1
                if depth == 0 { return }
            } else if dialect == .postgres, bytes[i] == UInt8(ascii: "/"), peek(1) == UInt8(ascii: "*") {
                i += 2
                depth += 1
            } else {
                advance()
            }
        }
        // SQLite's own tokenizer accepts a comment that runs to the end; a migration file never should.
        throw .init(line: begun, what: "a /* comment")
    }

    /// The index just past `$tag$` when a dollar quote opens at `i`.
    func dollarTagEnd() -> Int? {
        if i >= 1, Self.isIdentifierPart(bytes[i - 1]) { return nil }  // `a$b` is an identifier
        var j = i + 1
        if j < bytes.count, bytes[j] == UInt8(ascii: "$") { return j + 1 }
        guard j < bytes.count, Self.isIdentifierStart(bytes[j]) else { return nil }  // `$1` is a parameter
        while j < bytes.count, Self.isIdentifierPart(bytes[j]), bytes[j] != UInt8(ascii: "$") { j += 1 }
        guard j < bytes.count, bytes[j] == UInt8(ascii: "$") else { return nil }
        return j + 1
    }

    mutating func dollarQuoted(tagEnd: Int) throws(SQLSplitter.Unterminated) {
        let begun = line
        let tag = Array(bytes[i..<tagEnd])
        i = tagEnd
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "$"), bytes[i...].starts(with: tag) {
                i += tag.count
                return
            }
            advance()
        }
        throw .init(line: begun, what: "a \(String(decoding: tag, as: UTF8.self)) dollar quote")
    }

    mutating func word() {
        let from = i
        while i < bytes.count, Self.isIdentifierPart(bytes[i]) { i += 1 }
        let lower = String(decoding: bytes[from..<i], as: UTF8.self).lowercased()
        switch dialect {
        case .sqlite:
            sqliteToken(lower)
        case .postgres:
            wordsSeen += 1
            if routine == nil {
                if wordsSeen == 1 {
                    if lower != "create" { routine = false }
                } else if lower != "or" && lower != "replace" {
                    routine = lower == "function" || lower == "procedure"
                }
            } else if routine == true {
                if lower == "begin" || (beginDepth > 0 && lower == "case") {
                    beginDepth += 1
                } else if lower == "end", beginDepth > 0 {
                    beginDepth -= 1
                }
            }
        }
    }

    /// A non-word, non-`;` token: an "other" token for sqlite3_complete.
    mutating func other() {
        guard dialect == .sqlite else { return }
        sqliteToken(nil)
    }

    /// sqlite3_complete's transition for a token that is not `;` (keywords, or nil for any other token).
    mutating func sqliteToken(_ keyword: String?) {
        switch (state, keyword) {
        case (.start, "explain"): state = .explain
        case (.start, "create"), (.explain, "create"): state = .create
        case (.start, _), (.normal, _): state = .normal
        case (.explain, _): state = .normal
        case (.create, "temp"), (.create, "temporary"): state = .create
        case (.create, "trigger"): state = .trigger
        case (.create, _): state = .normal
        case (.trigger, _): state = .trigger
        case (.semi, "end"): state = .end
        case (.semi, _), (.end, _): state = .trigger
        }
    }

    mutating func semicolon() {
        switch dialect {
        case .postgres:
            guard parenDepth == 0, beginDepth == 0 else {
                code()
                i += 1
                return
            }
        case .sqlite:
            switch state {
            case .trigger, .semi:
                state = .semi
                code()
                i += 1
                return
            default:
                break
            }
        }
        finish(end: i)
        i += 1
        start = i
        startLine = line
    }

    mutating func finish(end: Int) {
        if hasCode {
            var last = end
            while last > codeStart,
                [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n")].contains(
                    bytes[last - 1])
            {
                last -= 1
            }
            statements.append(.init(text: String(decoding: bytes[codeStart..<last], as: UTF8.self), line: codeLine))
        }
        hasCode = false
        parenDepth = 0
        beginDepth = 0
        wordsSeen = 0
        routine = nil
        state = .start
    }
}
