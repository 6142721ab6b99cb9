import Foundation

/// How the Supabase CLI splits a migration file into statements (supabase/cli `pkg/parser`), kept
/// exactly, quirks included, because its history table records the statements as it split them
/// (`supabase_migrations.schema_migrations.statements`) and its CLI sends them one by one:
/// - a statement ends at a `;` outside quotes, `$tag$` bodies, comments, parentheses (one level: the
///   first `)` closes) and `BEGIN ATOMIC … END`; the `;` stays in the text, and whatever preceded the
///   statement (comments, blank space) belongs to it;
/// - the text after the last `;` is a statement of its own (a trailing comment, say);
/// - the CLI's scanner moves one byte at a time but reads a whole character at each byte, so each
///   byte after the first of a multi-byte character is also seen, as U+FFFD.
/// `splitAndTrim` is `SplitAndTrim`: trailing `;`s dropped, then surrounding white space; empty ones left out.
enum SupabaseSplitter {
    indirect enum State {
        case ready
        /// After one `-`.
        case comment
        case block(depth: Int)
        case quote(delimiter: Unicode.Scalar, escape: Bool)
        /// Until the text ends with the delimiter: a `$tag$` body, or a `--` comment (until a newline).
        case dollar(delimiter: [UInt8])
        /// After a `$`, at byte `offset` of the statement.
        case tag(offset: Int)
        case escape
        /// Inside parentheses or a `BEGIN ATOMIC` body: `prev` tracks quotes and comments in it.
        case atomic(prev: State, delimiter: [UInt8])
    }

    static func splitAndTrim(_ text: String) -> [String] {
        split(text).compactMap { token in
            var trimmed = Substring(token)
            while trimmed.hasSuffix(";") { trimmed = trimmed.dropLast() }
            let result = trimmed.trimmingSpacesAndNewlines()
            return result.isEmpty ? nil : result
        }
    }

    /// The statements as written, each with its `;`, and the rest of the text after the last one.
    static func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var tokens: [String] = []
        var start = 0
        var last = 0
        var state = State.ready
        while start + last < bytes.count {
            let (scalar, width) = decode(bytes, at: start + last)
            let data = bytes[start..<min(start + last + width, bytes.count)]
            if let next = next(state, scalar, data) {
                state = next
                last += 1
            } else {
                tokens.append(String(decoding: data, as: UTF8.self))
                start += data.count
                last = 0
                state = .ready
            }
        }
        if start < bytes.count { tokens.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return tokens
    }

    /// The state after `scalar`, the statement so far being `data` (ending with it); nil ends the statement.
    static func next(_ state: State, _ scalar: Unicode.Scalar, _ data: ArraySlice<UInt8>) -> State? {
        switch state {
        case .ready:
            switch scalar {
            case "$": return .tag(offset: data.count - scalar.utf8.count)
            case "'", "\"": return .quote(delimiter: scalar, escape: false)
            case "-": return .comment
            case "/": return .block(depth: 0)
            case "\\": return .escape
            case ";": return nil
            case "(": return .atomic(prev: .ready, delimiter: Array(")".utf8))
            case "c", "C":
                return isBeginAtomic(data) ? .atomic(prev: .ready, delimiter: Array("END".utf8)) : .ready
            default: return .ready
            }
        case .comment:
            return scalar == "-" ? .dollar(delimiter: Array("\n".utf8)) : next(.ready, scalar, data)
        case .block(let depth):
            let window = data.suffix(2)
            if window.elementsEqual("/*".utf8) { return .block(depth: depth + 1) }
            if depth == 0 { return next(.ready, scalar, data) }
            if window.elementsEqual("*/".utf8) { return depth == 1 ? .ready : .block(depth: depth - 1) }
            return state
        case .quote(let delimiter, let escape):
            if escape {
                return scalar == delimiter ? .quote(delimiter: delimiter, escape: false) : next(.ready, scalar, data)
            }
            return scalar == delimiter ? .quote(delimiter: delimiter, escape: true) : state
        case .dollar(let delimiter):
            return data.suffix(delimiter.count).elementsEqual(delimiter) ? .ready : state
        case .tag(let offset):
            if scalar == "$" { return .dollar(delimiter: Array(data[(data.startIndex + offset)...])) }
            if isLetter(scalar) || scalar.properties.numericType == .decimal || scalar == "_" { return state }
            return next(.ready, scalar, data)
        case .escape:
            return .ready
        case .atomic(var prev, let delimiter):
            // A delimiter inside quotes or comments does not count.
            if let current = next(prev, scalar, data) { prev = current }
            if case .ready = prev,
                String(decoding: data.suffix(delimiter.count), as: UTF8.self).lowercased()
                    == String(decoding: delimiter, as: UTF8.self).lowercased()
            {
                return .ready
            }
            return .atomic(prev: prev, delimiter: delimiter)
        }
    }

    /// True when `data` ends with `BEGIN ATOMIC` (any case, any blank space between), each word whole.
    static func isBeginAtomic(_ data: ArraySlice<UInt8>) -> Bool {
        let atomic = Array("atomic".utf8)
        guard data.count >= atomic.count, lowered(data.suffix(atomic.count)) == atomic else { return false }
        let before = data.dropLast(atomic.count)
        if let scalar = lastScalar(before), isIdentifier(scalar) { return false }
        var prefix = before
        while let scalar = lastScalar(prefix), scalar.properties.isWhitespace {
            prefix = prefix.dropLast(scalar.utf8.count)
        }
        let begin = Array("begin".utf8)
        guard prefix.count >= begin.count, lowered(prefix.suffix(begin.count)) == begin else { return false }
        guard let scalar = lastScalar(prefix.dropLast(begin.count)) else { return true }
        return !isIdentifier(scalar)
    }

    static func isIdentifier(_ scalar: Unicode.Scalar) -> Bool {
        isLetter(scalar) || scalar.properties.numericType == .decimal || scalar == "_" || scalar == "$"
    }

    /// Go's `unicode.IsLetter`: the letter categories.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    static func lowered(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
    }

    /// The character that ends `bytes`, or nil when they are empty (a broken sequence reads as U+FFFD).
    static func lastScalar(_ bytes: ArraySlice<UInt8>) -> Unicode.Scalar? {
        guard !bytes.isEmpty else { return nil }
        var start = bytes.endIndex - 1
        while start > bytes.startIndex, bytes.endIndex - start < 4, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        let (scalar, width) = decode(Array(bytes[start...]), at: 0)
        return start + width == bytes.endIndex ? scalar : "\u{FFFD}"
    }

    /// The character at `index` and its length in bytes, as Go's `utf8.DecodeRune` reads it: a byte
    /// that starts no valid sequence is U+FFFD, one byte long.
    static func decode(_ bytes: [UInt8], at index: Int) -> (Unicode.Scalar, Int) {
        let first = bytes[index]
        if first < 0x80 { return (Unicode.Scalar(first), 1) }
        let length = first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : first >= 0xC2 ? 2 : 0
        guard length > 0, index + length <= bytes.count else { return ("\u{FFFD}", 1) }
        var decoder = UTF8()
        var iterator = bytes[index..<index + length].makeIterator()
        if case .scalarValue(let scalar) = decoder.decode(&iterator), scalar.utf8.count == length {
            return (scalar, length)
        }
        return ("\u{FFFD}", 1)
    }
}
