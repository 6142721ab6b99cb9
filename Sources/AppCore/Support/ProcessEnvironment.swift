#if canImport(Glibc)
import Glibc
#endif

/// The process environment, read from `environ`: what `ProcessInfo.processInfo.environment` gives,
/// without `ProcessInfo`, whose first use in a process costs run-time type lookups on every
/// command's path. A name set twice keeps its first value, as `getenv` reads it; an entry without `=`
/// is left out.
public enum ProcessEnvironment {
    public static func current() -> [String: String] {
        var variables: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.utf8.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(text[..<equals])
                if variables[name] == nil { variables[name] = String(text[text.utf8.index(after: equals)...]) }
            }
            entry += 1
        }
        return variables
    }
}
