/// The command lines a server's start and a deploy run, parsed without ArgumentParser: `app`,
/// `app serve` and `app migrate [up]`, each with long options only, every value as the next argument.
/// ArgumentParser reflects over the commands' properties at every start, which is most of what a
/// start of this server spends beyond the modules it links (docs/benchmarks.md).
///
/// Anything else is nil, and ArgumentParser parses it as it always has, so its help and its errors
/// stay the only ones: a help request, a short name, an `--name=value` form, an unknown or repeated
/// option, a missing value, a value that is empty or starts with "-", a port that is not a number, a
/// format that is not one, and a combination `validate()` refuses. For what it accepts it gives what
/// ArgumentParser gives (`QuickParseTests` compares the two on generated command lines).
enum QuickParse {
    enum Command: Equatable {
        case serve(Serve.Arguments)
        case apply(Migrate.Apply.Arguments)
    }

    /// The command `arguments` (the command line without the program's name) name, or nil.
    static func command(_ arguments: [String]) -> Command? {
        var rest = arguments[...]
        switch rest.popFirst() {
        case nil:
            return .serve(Serve.Arguments())
        case "serve":
            return serve(rest)
        case "migrate":
            if rest.first == "up" { rest.removeFirst() }
            return apply(rest)
        default:
            return nil
        }
    }

    private static func serve(_ arguments: ArraySlice<String>) -> Command? {
        var result = Serve.Arguments()
        let parsed = options(arguments, flags: []) { name, value in
            switch name {
            case "--hostname": result.hostname = value
            case "--port":
                guard let port = Int(value) else { return false }
                result.port = port
            case "--port-file": result.portFile = value
            case "--env": result.environment = value
            case "--migrations-dir": result.migrationsDir = value
            default: return false
            }
            return true
        }
        return parsed ? .serve(result) : nil
    }

    private static func apply(_ arguments: ArraySlice<String>) -> Command? {
        var result = Migrate.Apply.Arguments()
        let parsed = options(arguments, flags: ["--status", "--dry-run"]) { name, value in
            switch name {
            case "--status": result.status = true
            case "--dry-run": result.dryRun = true
            case "--format":
                guard let format = Migrate.Apply.Format(rawValue: value) else { return false }
                result.format = format
            case "--env": result.settings.environment = value
            case "--migrations-dir": result.settings.migrationsDir = value
            default: return false
            }
            return true
        }
        guard parsed, (try? result.validate()) != nil else { return nil }
        return .apply(result)
    }

    /// Walks `arguments` as options: a name in `flags` alone, any other name followed by its value.
    /// `take` stores one (a flag's value is empty) and says whether it could. False when an
    /// option comes twice, a value is missing, empty or starts with "-", or `take` refuses one.
    private static func options(
        _ arguments: ArraySlice<String>, flags: [String], take: (String, String) -> Bool
    ) -> Bool {
        var seen: [String] = []
        var rest = arguments
        while let name = rest.popFirst() {
            guard !seen.contains(name) else { return false }
            seen.append(name)
            if flags.contains(name) {
                guard take(name, "") else { return false }
                continue
            }
            guard let value = rest.popFirst(), let first = value.utf8.first, first != UInt8(ascii: "-"),
                take(name, value)
            else { return false }
        }
        return true
    }
}
