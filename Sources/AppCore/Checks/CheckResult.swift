/// How serious a check result is. Warnings and errors are issues; info never is.
public enum CheckLevel: String, Sendable, Codable, Comparable, CaseIterable {
    case info, warning, error

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One finding of a startup check, in the style of Django's check framework.
/// Messages name the variable and the condition, never its value.
public struct CheckResult: Sendable, Codable, Equatable {
    /// Stable, dotted: `migration-secret.missing`.
    public var id: String
    public var level: CheckLevel
    public var message: String
    /// What the operator should do next.
    public var hint: String

    public init(id: String, level: CheckLevel, message: String, hint: String) {
        self.id = id
        self.level = level
        self.message = message
        self.hint = hint
    }
}

/// Everything the startup checks found.
public struct CheckReport: Sendable, Codable, Equatable {
    public var results: [CheckResult]

    public init(results: [CheckResult]) {
        self.results = results
    }

    /// True when any result is a warning or an error.
    public var hasIssues: Bool { results.contains { $0.level >= .warning } }

    public var ids: [String] { results.map(\.id) }

    enum CodingKeys: String, CodingKey { case results, hasIssues }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(results, forKey: .results)
        try container.encode(hasIssues, forKey: .hasIssues)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        results = try container.decode([CheckResult].self, forKey: .results)
    }
}
