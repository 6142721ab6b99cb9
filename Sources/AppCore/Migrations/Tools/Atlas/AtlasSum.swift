import Crypto
import Foundation

/// Atlas's integrity file, `atlas.sum` (ariga/atlas `sql/migrate/dir.go` `HashFile`): a running SHA-256
/// over each `.sql` file's name and bytes in name order, each file's entry the running sum so far
/// (base64), and the folder's total the SHA-256 of every entry's name and sum. A file whose first line
/// holds `atlas:sum ignore` adds its name to the running sum, but not its bytes, and has no entry.
struct AtlasSum: Equatable {
    var entries: [(name: String, hash: String)]

    static func == (a: AtlasSum, b: AtlasSum) -> Bool {
        a.entries.elementsEqual(b.entries) { $0.name == $1.name && $0.hash == $1.hash }
    }

    /// The sum of `files` (names and bytes), in name order.
    init(files: [(name: String, bytes: Data)]) {
        var hasher = SHA256()
        entries = []
        for file in files.sorted(by: { $0.name < $1.name }) {
            hasher.update(data: Data(file.name.utf8))
            if Self.ignored(file.bytes) { continue }
            hasher.update(data: file.bytes)
            entries.append((file.name, Data(hasher.finalize()).base64EncodedString()))
        }
    }

    init(entries: [(name: String, hash: String)]) { self.entries = entries }

    /// The folder's total.
    var total: String {
        var hasher = SHA256()
        for entry in entries {
            hasher.update(data: Data(entry.name.utf8))
            hasher.update(data: Data(entry.hash.utf8))
        }
        return Data(hasher.finalize()).base64EncodedString()
    }

    /// `atlas.sum` as Atlas writes it.
    var text: String {
        "h1:\(total)\n" + entries.map { "\($0.name) h1:\($0.hash)\n" }.joined()
    }

    /// `atlas.sum` read back; nil when it is not in Atlas's format or its total does not match its entries.
    init?(text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first, first.hasPrefix("h1:") else { return nil }
        var entries: [(name: String, hash: String)] = []
        for line in lines.dropFirst() {
            guard let range = line.range(of: "h1:") else { return nil }
            entries.append(
                (line[..<range.lowerBound].trimmingSpaces(), String(line[range.upperBound...])))
        }
        self.entries = entries
        guard total == first.dropFirst(3) else { return nil }
    }

    /// True when the file's first line is an `atlas:sum ignore` directive (Atlas matches from the
    /// start of the text, printable characters only, so only the first line can hold it).
    static func ignored(_ bytes: Data) -> Bool {
        let first = bytes.prefix(while: { $0 >= 0x20 && $0 <= 0x7E })
        guard let text = String(bytes: first, encoding: .ascii), let range = text.range(of: "atlas:sum") else {
            return false
        }
        return text[range.upperBound...].split(separator: " ").first == "ignore"
    }

    /// Why `expected` (the folder as it is) is not `recorded` (`atlas.sum`), as Atlas's `Validate` says:
    /// the first file whose entry differs, added, edited or removed; nil when they match.
    static func mismatch(recorded: AtlasSum, expected: AtlasSum) -> (file: String, reason: String)? {
        guard recorded.total != expected.total else { return nil }
        for (index, entry) in recorded.entries.enumerated() {
            if index < expected.entries.count, expected.entries[index] == entry { continue }
            guard let found = expected.entries.firstIndex(where: { $0.name == entry.name }) else {
                return (entry.name, "removed")
            }
            return found == index ? (entry.name, "edited") : (expected.entries[index].name, "added")
        }
        return (expected.entries[recorded.entries.count].name, "added")
    }
}
