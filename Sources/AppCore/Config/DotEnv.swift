import Foundation

/// `.env` parsing and loading the way Next.js does it (`@next/env`): the npm `dotenv` parser, then
/// `dotenv-expand`, file by file in Next.js order, with the process environment winning.
///
/// Ours rather than swift-configuration's or Vapor's parser: those read
/// `MIGRATION_SECRET=   # comment` as the comment text, which would turn an unfilled copy of
/// `.env.example` into a "configured" migration secret.
public enum DotEnv {
    // npm dotenv's LINE expression, with `\w` spelled ASCII-only as in JavaScript.
    private static let line = try! NSRegularExpression(
        pattern:
            #"(?:^|^)\s*(?:export\s+)?([A-Za-z0-9_.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)"#,
        options: [.anchorsMatchLines]
    )

    /// Parses one file's text into ordered key/value pairs; a later duplicate key overrides an earlier one.
    public static func parse(_ source: String) -> [(key: String, value: String)] {
        var text = source
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        text = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        let ns = text as NSString
        var order: [String] = []
        var values: [String: String] = [:]
        for match in line.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let key = ns.substring(with: match.range(at: 1))
            var value = match.range(at: 2).location == NSNotFound ? "" : ns.substring(with: match.range(at: 2))
            value = value.trimmingSpacesAndNewlines()
            let quote = value.first
            if let quote, "'\"`".contains(quote), value.count >= 2, value.last == quote {
                value = String(value.dropFirst().dropLast())
            }
            if quote == "\"" {
                value = value.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\r", with: "\r")
            }
            if values[key] == nil { order.append(key) }
            values[key] = value
        }
        return order.map { ($0, values[$0]!) }
    }

    /// `dotenv-expand`: `${VAR}`, `$VAR` and `${VAR:-default}`, resolved right to left from the
    /// environment first, then the default, then this file's own values; `\$` is a literal `$`.
    /// A key the environment already holds with another value keeps the environment's value.
    public static func expand(_ parsed: [(key: String, value: String)], environment: [String: String]) -> [(
        key: String, value: String
    )] {
        var own: [String: String] = [:]
        for (key, value) in parsed { own[key] = value }
        var result: [(key: String, value: String)] = []
        for (key, raw) in parsed {
            let value: String
            if let existing = environment[key], existing != raw {
                value = existing
            } else {
                value = interpolate(raw, environment: environment, own: own)
            }
            let resolved = value.replacingOccurrences(of: "\\$", with: "$")
            own[key] = resolved
            result.append((key, resolved))
        }
        return result
    }

    private static func interpolate(_ input: String, environment: [String: String], own: [String: String]) -> String {
        var chars = Array(input.unicodeScalars)
        var cursor = chars.count
        // Walk left over unescaped `$`; text substituted in is never expanded again, so `A=$A` ends.
        while let dollar = lastUnescapedDollar(in: chars, before: cursor) {
            var end = dollar + 1
            let braced = end < chars.count && chars[end] == "{"
            if braced { end += 1 }
            let nameStart = end
            while end < chars.count, isWordScalar(chars[end]) { end += 1 }
            guard end > nameStart else {
                cursor = dollar
                continue
            }
            let name = String(String.UnicodeScalarView(chars[nameStart..<end]))
            var fallback: String?
            if braced, end + 1 < chars.count, chars[end] == ":", chars[end + 1] == "-" {
                var close = end + 2
                while close < chars.count, chars[close] != "}", chars[close] != "\\" { close += 1 }
                fallback = String(String.UnicodeScalarView(chars[(end + 2)..<close]))
                end = close
            }
            if braced, end < chars.count, chars[end] == "}" { end += 1 }
            let replacement = nonEmpty(environment[name]) ?? nonEmpty(fallback) ?? own[name] ?? ""
            chars.replaceSubrange(dollar..<end, with: Array(replacement.unicodeScalars))
            cursor = dollar
        }
        return String(String.UnicodeScalarView(chars))
    }

    private static func lastUnescapedDollar(in chars: [Unicode.Scalar], before limit: Int) -> Int? {
        var index = limit - 1
        while index >= 0 {
            if chars[index] == "$", index == 0 || chars[index - 1] != "\\" { return index }
            index -= 1
        }
        return nil
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    /// The files Next.js reads for an environment, highest priority first.
    public static func fileNames(environment: String) -> [String] {
        var names = [".env.\(environment).local"]
        if environment != "test" { names.append(".env.local") }
        names += [".env.\(environment)", ".env"]
        return names
    }

    /// The process environment plus every `.env` file in the folder at `directory`, in Next.js order.
    /// The first source that sets a key wins; each file is expanded against what came before it.
    /// A name that is there but is no readable regular file of UTF-8 text (a folder, a pipe) is an error.
    public static func load(directory: String, environment appEnv: String, processEnvironment: [String: String])
        throws -> [String: String]
    {
        var merged = processEnvironment
        for name in fileNames(environment: appEnv) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            guard access(path, F_OK) == 0 else { continue }
            guard let data = RegularFile.contents(of: path), let text = RegularFile.utf8(data) else {
                throw ConfigError.unreadableFile(name)
            }
            for (key, value) in expand(parse(text), environment: merged) where merged[key] == nil {
                merged[key] = value
            }
        }
        return merged
    }
}
