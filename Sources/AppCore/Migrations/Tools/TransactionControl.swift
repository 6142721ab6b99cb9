import Foundation

/// Recognises the statements that open or end a transaction.
enum TransactionControl {
    /// A file run as written by its tool (golang-migrate, Prisma): its statements, and whether they run
    /// in this server's transaction. One `BEGIN … COMMIT` block around everything: yes, without them (never
    /// wrapped twice). Transaction control anywhere else: no, run as written. None: yes.
    static func wrapping(_ statements: [String]) -> ([String], Bool) {
        var statements = statements
        let control = statements.indices.filter { isControl(statements[$0]) }
        if control.isEmpty { return (statements, true) }
        if control == [0, statements.count - 1], isBegin(statements[0]), isCommit(statements[statements.count - 1]) {
            statements.removeFirst()
            statements.removeLast()
            return (statements, true)
        }
        return (statements, false)
    }

    /// The statement's words in lower case, up to a comment (the splitter already dropped leading ones).
    static func words(_ statement: String) -> [Substring] {
        let all = statement.lowercased().split(whereSeparator: {
            $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" || $0 == ";"
        })
        return Array(all.prefix(while: { !$0.hasPrefix("--") && !$0.hasPrefix("/*") }))
    }

    static func isBegin(_ statement: String) -> Bool {
        let w = words(statement)
        return w == ["begin"] || w == ["begin", "transaction"] || w == ["begin", "work"]
            || w == ["start", "transaction"]
            || (w.first == "begin" && ["deferred", "immediate", "exclusive"].contains(w.dropFirst().first ?? ""))
    }

    static func isCommit(_ statement: String) -> Bool {
        let w = words(statement)
        return w == ["commit"] || w == ["end"] || w == ["commit", "transaction"] || w == ["commit", "work"]
            || w == ["end", "transaction"]
    }

    /// BEGIN, COMMIT, ROLLBACK (not `ROLLBACK TO` a savepoint) and their spellings.
    static func isControl(_ statement: String) -> Bool {
        let w = words(statement)
        guard let first = w.first else { return false }
        if first == "rollback" || first == "abort" { return !w.contains("to") }
        return isBegin(statement) || isCommit(statement) || first == "start" && w.dropFirst().first == "transaction"
    }

    /// Opens a transaction block as the statement runs: any `BEGIN …` or `START TRANSACTION …` (a
    /// top-level statement that starts with BEGIN means nothing else in PostgreSQL or SQLite).
    static func opensTransaction(_ statement: String) -> Bool {
        let w = words(statement)
        return w.first == "begin" || (w.first == "start" && w.dropFirst().first == "transaction")
    }

    /// Ends the open transaction block: COMMIT, END, ROLLBACK or ABORT (not to a savepoint, and not the
    /// `… PREPARED` forms, which run outside a block), or PREPARE TRANSACTION.
    static func endsTransaction(_ statement: String) -> Bool {
        let w = words(statement)
        guard let first = w.first, !w.contains("prepared") else { return false }
        switch first {
        case "commit", "end": return true
        case "rollback", "abort": return !w.contains("to")
        case "prepare": return w.dropFirst().first == "transaction"
        default: return false
        }
    }
}
