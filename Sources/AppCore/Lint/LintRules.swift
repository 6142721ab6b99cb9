import Foundation

/// squawk's rules (by squawk's names) on a PostgreSQL migration's text, read with PostgreSQL's own
/// parser: which statement breaks which rule, and the table it is about. Sizes and levels are the
/// caller's (docs/safety.md).
enum LintRules {
    /// One rule broken by one statement.
    struct Hit: Equatable, Sendable {
        var line: Int
        var rule: String
        /// The table the statement changes, where it is one table.
        var table: String? = nil
    }

    /// The rules whose finding is about lock time or a table rewrite: rated by the table's size. The
    /// others (drops, renames, transaction nesting …) are about compatibility or lost data: a warning
    /// at any size.
    static let sizeRated: Set<String> = [
        "require-concurrent-index-creation", "require-concurrent-index-deletion", "adding-field-with-default",
        "adding-not-nullable-field", "adding-required-field", "adding-foreign-key-constraint",
        "constraint-missing-not-valid", "disallowed-unique-constraint", "changing-column-type",
        "adding-serial-primary-key-field",
    ]

    static let all: Set<String> =
        sizeRated.union([
            "ban-concurrent-index-creation-in-transaction", "renaming-column", "renaming-table", "ban-drop-column",
            "ban-drop-table", "ban-drop-database", "prefer-robust-stmts", "transaction-nesting",
        ])

    /// Functions a column default may call without a table rewrite (not volatile).
    static let stableDefaults: Set<String> = [
        "now", "current_timestamp", "transaction_timestamp", "statement_timestamp", "current_date",
        "localtimestamp", "current_user", "session_user",
    ]

    /// The hits in `text` (one migration's up section). `transactional`: the server runs it in one
    /// transaction (squawk's `--assume-in-transaction`).
    static func check(_ text: String, transactional: Bool) throws -> [Hit] {
        try check(
            try SQLSplitter.split(text, dialect: .postgres).map { ($0.text, $0.line) }, ignores: Ignores(text),
            transactional: transactional)
    }

    /// The hits in a migration's statements, each with the line it starts on in `ignores`'s text.
    static func check(_ statements: [(text: String, line: Int)], ignores ignored: Ignores, transactional: Bool)
        throws -> [Hit]
    {
        var hits: [Hit] = []
        var inTransaction = transactional
        var created: Set<String> = []
        var notValid: Set<String> = []
        for statement in statements {
            for parsed in try PostgresParser.parse(statement.text) {
                var found: [Hit] = []
                func hit(_ rule: String, _ table: String?) {
                    found.append(Hit(line: statement.line, rule: rule, table: table))
                }
                let node = Node(parsed.node)
                check(
                    node, inTransaction: &inTransaction, transactional: transactional, created: &created,
                    notValid: &notValid, hit)
                hits += found.filter { !ignored.ignores($0.rule, statementLine: statement.line) }
            }
        }
        return hits
    }

    private static func check(
        _ node: Node, inTransaction: inout Bool, transactional: Bool, created: inout Set<String>,
        notValid: inout Set<String>, _ hit: (String, String?) -> Void
    ) {
        let outside = !inTransaction
        func robust(_ ok: Bool, _ table: String?) {
            if outside, !ok { hit("prefer-robust-stmts", table) }
        }
        if let stmt = node["TransactionStmt"].present {
            let kind = stmt["kind"].string ?? ""
            if transactional,
                ["TRANS_STMT_BEGIN", "TRANS_STMT_START", "TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK"].contains(kind)
            {
                hit("transaction-nesting", nil)
            }
            if kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START" { inTransaction = true }
            if kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK" { inTransaction = transactional }
        } else if let stmt = node["CreateStmt"].present {
            let table = stmt["relation"]["relname"].string
            if let table { created.insert(table) }
            robust(stmt["if_not_exists"].bool, table)
        } else if let stmt = node["IndexStmt"].present {
            let table = stmt["relation"]["relname"].string
            let concurrent = stmt["concurrent"].bool
            let fresh = inTransaction && table.map(created.contains) == true
            if !concurrent, !fresh { hit("require-concurrent-index-creation", table) }
            if concurrent, inTransaction { hit("ban-concurrent-index-creation-in-transaction", table) }
            if concurrent || !inTransaction, !stmt["if_not_exists"].bool { hit("prefer-robust-stmts", table) }
        } else if let stmt = node["DropStmt"].present {
            let kind = stmt["removeType"].string
            let table = stmt["objects"][0].names.last
            if kind == "OBJECT_INDEX", !stmt["concurrent"].bool { hit("require-concurrent-index-deletion", nil) }
            if kind == "OBJECT_TABLE" { hit("ban-drop-table", table) }
            if kind == "OBJECT_INDEX" || kind == "OBJECT_TABLE" { robust(stmt["missing_ok"].bool, table) }
        } else if node["DropdbStmt"].exists {
            hit("ban-drop-database", nil)
        } else if let stmt = node["RenameStmt"].present {
            let table = stmt["relation"]["relname"].string
            switch stmt["renameType"].string {
            case "OBJECT_COLUMN":
                hit("renaming-column", table)
                robust(false, table)
            case "OBJECT_TABLE":
                hit("renaming-table", table)
                robust(false, table)
            case "OBJECT_TABCONSTRAINT":
                robust(false, table)
            default: break
            }
        } else if let stmt = node["AlterTableStmt"].present {
            let table = stmt["relation"]["relname"].string
            let fresh = inTransaction && table.map(created.contains) == true
            for command in stmt["cmds"].array.map({ $0["AlterTableCmd"] }) {
                alterTable(command, table: table, fresh: fresh, robust: robust, hit)
                let constraint = command["def"]["Constraint"]
                if command["subtype"].string == "AT_AddConstraint", constraint["skip_validation"].bool,
                    let name = constraint["conname"].string
                {
                    notValid.insert(name)
                }
                if command["subtype"].string == "AT_ValidateConstraint" {
                    // Validated in the transaction that added it NOT VALID: the lock is held as if it were valid.
                    if inTransaction, let name = command["name"].string, notValid.contains(name) {
                        hit("constraint-missing-not-valid", table)
                    }
                    robust(false, table)
                }
            }
        }
    }

    private static func alterTable(
        _ command: Node, table: String?, fresh: Bool, robust: (Bool, String?) -> Void, _ hit: (String, String?) -> Void
    ) {
        switch command["subtype"].string {
        case "AT_AddColumn":
            let constraints = command["def"]["ColumnDef"]["constraints"].array.map { $0["Constraint"] }
            let kinds = constraints.compactMap { $0["contype"].string }
            if let value = constraints.first(where: { $0["contype"].string == "CONSTR_DEFAULT" }),
                volatile(value["raw_expr"])
            {
                hit("adding-field-with-default", table)
            }
            if kinds.contains("CONSTR_GENERATED") { hit("adding-field-with-default", table) }
            if kinds.contains("CONSTR_NOTNULL"), !kinds.contains("CONSTR_DEFAULT"), !kinds.contains("CONSTR_GENERATED")
            {
                hit("adding-required-field", table)
            }
            if kinds.contains("CONSTR_FOREIGN"), !fresh { hit("adding-foreign-key-constraint", table) }
            if kinds.contains("CONSTR_PRIMARY") { hit("adding-serial-primary-key-field", table) }
            if kinds.contains("CONSTR_UNIQUE") { hit("disallowed-unique-constraint", table) }
            robust(command["missing_ok"].bool, table)
        case "AT_AddConstraint":
            let constraint = command["def"]["Constraint"]
            let kind = constraint["contype"].string ?? ""
            let validated = !constraint["skip_validation"].bool
            let usingIndex = constraint["indexname"].string != nil
            if !fresh {
                if kind == "CONSTR_FOREIGN", validated { hit("adding-foreign-key-constraint", table) }
                if ["CONSTR_FOREIGN", "CONSTR_CHECK"].contains(kind), validated {
                    hit("constraint-missing-not-valid", table)
                }
                if ["CONSTR_UNIQUE", "CONSTR_PRIMARY"].contains(kind), !usingIndex {
                    hit("constraint-missing-not-valid", table)
                }
                if kind == "CONSTR_UNIQUE", !usingIndex { hit("disallowed-unique-constraint", table) }
                if kind == "CONSTR_PRIMARY", !usingIndex { hit("adding-serial-primary-key-field", table) }
            }
            robust(false, table)
        case "AT_SetNotNull":
            hit("adding-not-nullable-field", table)
            robust(false, table)
        case "AT_AlterColumnType":
            hit("changing-column-type", table)
            robust(false, table)
        case "AT_DropColumn":
            hit("ban-drop-column", table)
            robust(command["missing_ok"].bool, table)
        default:
            break
        }
    }

    /// True when a column default may change from row to row, so adding it rewrites the table.
    static func volatile(_ expression: Node) -> Bool {
        if expression["A_Const"].exists || expression["SQLValueFunction"].exists { return false }
        if expression["TypeCast"].exists { return volatile(expression["TypeCast"]["arg"]) }
        if let call = expression["FuncCall"].value {
            let name = Node(call)["funcname"].names.last ?? ""
            return !stableDefaults.contains(name.lowercased())
        }
        return true
    }

    /// squawk's ignore comments: `-- squawk-ignore rule[,rule]` on the lines just above a statement,
    /// and `-- squawk-ignore-file [rule[,rule]]` anywhere (no rule: every rule).
    struct Ignores {
        var file: Set<String> = []
        var fileAll = false
        /// Rules ignored by a comment, by the line it is on.
        var byLine: [Int: Set<String>] = [:]
        var lines: [Substring]

        init(_ text: String) {
            // Cheap first: a file without these words has no ignore comment (most files, read for every
            // pending migration).
            guard text.containsBytes("squawk-ignore") else {
                lines = []
                return
            }
            lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            for (index, raw) in lines.enumerated() {
                let line = raw.trimmingSpaces()
                guard line.hasPrefix("--") else { continue }
                let body = line.dropFirst(2).trimmingSpaces()
                if body.hasPrefix("squawk-ignore-file") {
                    let rules = Self.rules(body.dropFirst("squawk-ignore-file".count))
                    if rules.isEmpty { fileAll = true } else { file.formUnion(rules) }
                } else if body.hasPrefix("squawk-ignore") {
                    byLine[index + 1] = Self.rules(body.dropFirst("squawk-ignore".count))
                }
            }
        }

        static func rules(_ text: Substring) -> Set<String> {
            Set(text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init))
        }

        /// Whether `rule` is ignored for the statement starting on `statementLine` (from 1).
        func ignores(_ rule: String, statementLine: Int) -> Bool {
            if fileAll || file.contains(rule) { return true }
            guard !byLine.isEmpty else { return false }
            var line = statementLine - 1
            while line >= 1, lines[line - 1].trimmingSpaces().hasPrefix("--") {
                if byLine[line]?.contains(rule) == true { return true }
                line -= 1
            }
            return false
        }
    }
}

/// A read-only view of a parse tree from `PostgresParser`, where a missing key reads as nothing.
struct Node {
    let value: Any?
    init(_ value: Any?) { self.value = value }

    subscript(key: String) -> Node { Node((value as? [String: Any])?[key]) }
    subscript(index: Int) -> Node {
        guard let items = value as? [Any], items.indices.contains(index) else { return Node(nil) }
        return Node(items[index])
    }
    var exists: Bool { value != nil }
    /// Itself when there is something here, for `if let`.
    var present: Node? { value == nil ? nil : self }
    var string: String? { value as? String }
    var bool: Bool { value as? Bool ?? false }
    var array: [Node] { (value as? [Any] ?? []).map(Node.init) }
    /// A name given as a list of `String` nodes (`schema.table`, a function's name): its parts.
    var names: [String] {
        (value as? [Any] ?? []).compactMap { Node($0)["String"]["sval"].string ?? Node($0)["String"]["str"].string }
    }
}
