import Foundation
import Synchronization

/// Why a folder of migrations cannot be used. Nothing of such a folder is applied, not even its valid files.
public struct MigrationsInvalid: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file at fault (its name), or the folder's path when the folder itself cannot be read.
    public var file: String
    /// The 1-based line, when the fault is inside the file.
    public var line: Int?
    public var reason: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)"
    }
}

/// Reads a folder of migrations in one of the tools' formats (`MigrationTools`): named by
/// `MIGRATIONS_FORMAT`, or recognised from the folder itself.
public enum MigrationFolder {
    /// The folder's migrations in `setting`'s format (`MIGRATIONS_FORMAT`), or the one format the folder
    /// positively fits; no format and no migrations for a folder with nothing any tool would run. A
    /// folder in a layout several tools share gives no migrations but the `candidates`, for the
    /// database's history to pick from (`MigrationCatalog.resolved`).
    static func load(
        _ path: String, format setting: MigrationFormat? = nil, dialect: SQLEngine
    ) throws(MigrationsInvalid) -> (format: MigrationFormat?, migrations: [Migration], candidates: [MigrationFormat]) {
        var folder = try Listing(path)
        folder.readAhead()
        let format: MigrationFormat
        if let setting {
            format = setting
        } else {
            switch try recognise(folder) {
            case nil: return (nil, [], [])
            case .shared(let candidates): return (nil, [], candidates)
            case .format(let recognised): format = recognised
            }
        }
        folder.readAs = format
        return (format, try format.tool.load(folder, dialect: dialect).sorted(by: Migration.precedes), [])
    }

    /// What a folder was recognised as.
    enum Recognition: Equatable {
        /// The one format it positively fits.
        case format(MigrationFormat)
        /// No format fits it, and it is laid out as each of these tools lays out its folders.
        case shared([MigrationFormat])
    }

    /// The format a new migration in `path` is written in: `setting` (`MIGRATIONS_FORMAT`), else the
    /// one recognised; dbmate's for a folder that does not exist yet or holds no migrations.
    public static func format(of path: String, setting: String?) throws(MigrationsInvalid) -> MigrationFormat {
        if let setting {
            guard let known = MigrationFormat(setting: setting) else {
                throw MigrationsInvalid(
                    file: path, line: nil,
                    reason: "MIGRATIONS_FORMAT \"\(setting)\" is none of \(MigrationFormat.names)")
            }
            return known
        }
        guard FileManager.default.fileExists(atPath: path) else { return .dbmate }
        switch try recognise(Listing(path)) {
        case nil: return .dbmate
        case .format(let format): return format
        case .shared(let candidates):
            // The tools that share a layout name a new migration's files alike; what they write in
            // them differs, so the first is as good as any (MIGRATIONS_FORMAT picks one).
            let names = Set(candidates.map { $0.newFiles(stamp: "0", slug: "x")?.map(\.name) ?? [] })
            guard names.count == 1, let first = candidates.first else {
                throw MigrationsInvalid(
                    file: path, line: nil,
                    reason:
                        "the folder is laid out as \(candidates.map(\.rawValue).joined(separator: " and ")) lay out theirs; "
                        + "set MIGRATIONS_FORMAT to the one that wrote it")
            }
            return first
        }
    }

    /// The one format the folder positively fits: a tool's own markers, marker file or layout. Nothing
    /// is guessed: `.sql` files that fit no format (numbered files without markers, say: dbmate itself
    /// refuses a file without `-- migrate:up`) make the folder invalid, naming the tool whose markers
    /// they carry, if any; one that fits two needs `MIGRATIONS_FORMAT`. Nil: no `.sql` file at all,
    /// a project with no migrations yet.
    static func recognise(_ folder: Listing) throws(MigrationsInvalid) -> Recognition? {
        let fits = MigrationTools.all.filter { $0.fits(folder) }.map { $0.format }
        guard fits.count <= 1 else {
            let names = fits.map(\.rawValue).joined(separator: " and ")
            throw MigrationsInvalid(
                file: folder.path, line: nil, reason: "the folder fits \(names); set MIGRATIONS_FORMAT to one of them")
        }
        if let format = fits.first { return .format(format) }
        if folder.sqlFiles.isEmpty { return nil }
        for name in folder.sqlFiles {
            guard let text = try? folder.text(of: name), let found = ToolMarkers.foreign(in: text, readAs: nil) else {
                continue
            }
            let written = found.text.trimmingSpaces().prefix(80)
            if let format = found.marker.format {
                throw MigrationsInvalid(
                    file: name, line: found.line,
                    reason:
                        "\"\(written)\" is \(format.rawValue)'s marker, but no file of the folder has that tool's sections; "
                        + "set MIGRATIONS_FORMAT=\(format.rawValue) to see what is wrong with them")
            }
            throw MigrationsInvalid(
                file: name, line: found.line,
                reason:
                    "the folder is \(found.marker.tool)'s (\"\(written)\"), "
                    + "a tool whose folders this server does not read; it fits none of \(MigrationFormat.names), and nothing of it is run"
            )
        }
        let shared = MigrationTools.all.filter { $0.sharesLayout(folder) }.map { $0.format }
        if !shared.isEmpty { return .shared(shared) }
        throw MigrationsInvalid(
            file: folder.path, line: nil,
            reason:
                "the folder fits none of the formats (\(MigrationFormat.names)): no tool's markers, marker file or layout; "
                + "set MIGRATIONS_FORMAT to the tool that wrote it (see docs/migrations.md)"
        )
    }

    /// A folder's entries, read once.
    struct Listing {
        let path: String
        /// Every entry's name, sorted.
        let names: [String]
        let directories: Set<String>
        /// The format the folder is read in, once chosen: every file read from then on is checked for
        /// another tool's markers (`ToolMarkers`).
        var readAs: MigrationFormat?

        init(_ path: String) throws(MigrationsInvalid) {
            self.path = path
            guard let dir = opendir(path) else {
                throw MigrationsInvalid(file: path, line: nil, reason: "the folder cannot be read (MIGRATIONS_DIR)")
            }
            defer { closedir(dir) }
            var names: [String] = []
            var directories = Set<String>()
            while let entry = readdir(dir) {
                let name = Self.name(of: entry)
                guard name != "." && name != ".." else { continue }
                names.append(name)
                // The entry's own type, where the file system gives it; a link (followed) and an
                // unknown type are asked of `stat`.
                switch Int32(entry.pointee.d_type) {
                case Int32(DT_DIR): directories.insert(name)
                case Int32(DT_LNK), Int32(DT_UNKNOWN):
                    if RegularFile.kind(of: Self.join(path, name)) == S_IFDIR { directories.insert(name) }
                default: break
                }
            }
            self.names = names.sorted()
            self.directories = directories
        }

        /// A directory entry's name, as `readdir` gives it.
        static func name(of entry: UnsafeMutablePointer<dirent>) -> String {
            withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
        }

        /// True when the text of a `.sql` file directly in the folder passes `test` (a tool's marker line).
        func anySQLText(_ test: (String) -> Bool) -> Bool {
            sqlFiles.contains { name in (try? text(of: name)).map(test) ?? false }
        }

        /// The `.sql` files directly in the folder, sorted by name.
        var sqlFiles: [String] { names.filter { $0.hasSuffix(".sql") && !directories.contains($0) } }

        func fileExists(_ relative: String) -> Bool {
            guard let kind = RegularFile.kind(of: Self.join(path, relative)) else { return false }
            return kind != S_IFDIR
        }

        /// The file's text: UTF-8, CRLF read as LF (a Windows checkout is the same migration), a leading BOM
        /// dropped; refused when it holds another tool's markers than `readAs`'s.
        func text(of name: String) throws(MigrationsInvalid) -> String {
            let text = try decoded(name)
            if let readAs { try ToolMarkers.refuseForeign(text, file: name, readAs: readAs) }
            return text
        }

        /// Read once: recognising the format reads every file, and loading it reads them again.
        private func decoded(_ name: String) throws(MigrationsInvalid) -> String {
            if let text = texts.byName.withLock({ $0[name] }) { return text }
            guard var text = RegularFile.utf8(try raw(of: name)) else {
                throw MigrationsInvalid(file: name, line: nil, reason: "the file is not UTF-8 text")
            }
            if text.containsBytes("\r") { text = text.replacingOccurrences(of: "\r\n", with: "\n") }
            if text.utf8.first == 0xEF, text.hasPrefix("\u{FEFF}") { text.removeFirst() }
            texts.byName.withLock { [text] in $0[name] = text }
            return text
        }

        /// Reads the texts of the `.sql` files directly in the folder ahead of their first use, on two
        /// threads for a folder of many (`eachFile`): recognising the format reads all of them anyway.
        /// A file that cannot be read is left for its first use, which reports it as before.
        func readAhead() {
            _ = eachFile(sqlFiles) { name throws(MigrationsInvalid) in try decoded(name) }
        }

        /// `transform` of each of `names`, in their order, each done once; shared between the caller and
        /// one more thread (`SplitWork`) when there are at least `splitMinimum`. Every error is kept in
        /// its place, for the caller to report the first in its own order.
        func eachFile<T: Sendable>(
            _ names: [String], _ transform: @escaping @Sendable (String) throws(MigrationsInvalid) -> T
        ) -> [Result<T, MigrationsInvalid>] {
            let one: @Sendable (Int) -> Result<T, MigrationsInvalid> = { index in
                Result { () throws(MigrationsInvalid) in try transform(names[index]) }
            }
            guard names.count >= Self.splitMinimum else { return names.indices.map(one) }
            return SplitWork.results(count: names.count, one)
        }

        /// Below this many files (about 6 µs each to read here) the whole read is shorter than a second
        /// thread often takes to wake (0.1–0.2 ms on average, `perf sched`).
        static let splitMinimum = 16

        /// The texts read so far, by name; filled from two threads by `eachFile`.
        private let texts = TextCache()

        private final class TextCache: Sendable {
            let byName = Mutex<[String: String]>([:])
        }

        /// The file's bytes as they are, for the tools that checksum them (Prisma, Drizzle).
        func raw(of name: String) throws(MigrationsInvalid) -> Data {
            guard let data = RegularFile.contents(of: Self.join(path, name)) else {
                throw MigrationsInvalid(file: name, line: nil, reason: "the file cannot be read")
            }
            return data
        }

        static func join(_ path: String, _ name: String) -> String {
            path.hasSuffix("/") ? path + name : path + "/" + name
        }
    }

    /// `text`'s statements for `dialect`; an unclosed quote or comment names its line in `file`.
    static func statements(_ text: String, file: String, lineOffset: Int, dialect: SQLEngine) throws(MigrationsInvalid)
        -> [String]
    {
        do {
            return try SQLSplitter.split(text, dialect: dialect).map(\.text)
        } catch {
            throw MigrationsInvalid(file: file, line: error.line + lineOffset, reason: "\(error.what) is not closed")
        }
    }
}

extension String {
    /// The text's lines, split at each "\n" by UTF-8 byte: the same lines `split(separator: "\n")`
    /// gives for text without "\r\n" (which `Listing.text(of:)` never returns), without breaking the
    /// whole text into Characters first, and found in the bytes in place (the generic split over the
    /// UTF-8 view was a tenth of a no-op `app migrate` on a folder of 200 files).
    func lines(omittingEmpty: Bool = false) -> [Substring] {
        var copy = self
        return copy.withUTF8 { bytes in
            var lines: [Substring] = []
            var lineStart = startIndex
            var lineOffset = 0
            for offset in 0..<bytes.count where bytes[offset] == UInt8(ascii: "\n") {
                let lineEnd = utf8.index(lineStart, offsetBy: offset - lineOffset)
                if !omittingEmpty || offset > lineOffset { lines.append(self[lineStart..<lineEnd]) }
                lineStart = utf8.index(after: lineEnd)
                lineOffset = offset + 1
            }
            if !omittingEmpty || bytes.count > lineOffset { lines.append(self[lineStart..<endIndex]) }
            return lines
        }
    }
}

extension StringProtocol {
    /// True when `needle` occurs in the text, compared byte by byte (UTF-8): what `contains` answers,
    /// without Foundation's, which copies the whole text into an NSString first.
    func containsBytes(_ needle: String) -> Bool {
        firstByteRange(of: needle) != nil
    }

    /// The first place `needle` occurs at or after `from`, compared byte by byte (UTF-8); nil when it
    /// does not. An empty needle is found where the search starts.
    func firstByteRange(of needle: String, from: Index? = nil) -> Range<Index>? {
        let pattern = Array(needle.utf8)
        let bytes = utf8
        let start = bytes.distance(from: bytes.startIndex, to: from ?? startIndex)
        // In place where the text is contiguous (always, for native strings); a copy otherwise.
        let found =
            bytes.withContiguousStorageIfAvailable { Self.firstOffset(of: pattern, in: $0, from: start) }
            ?? Array(bytes).withUnsafeBufferPointer { Self.firstOffset(of: pattern, in: $0, from: start) }
        guard let found else { return nil }
        let lower = bytes.index(bytes.startIndex, offsetBy: found)
        return lower..<bytes.index(lower, offsetBy: pattern.count)
    }

    /// Where `pattern` first starts in `text` at or after `from`: `memchr` to each candidate first
    /// byte, `memcmp` for the rest.
    private static func firstOffset(of pattern: [UInt8], in text: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let first = pattern.first else { return from <= text.count ? from : nil }
        guard let base = text.baseAddress, text.count >= pattern.count else { return nil }
        let last = text.count - pattern.count
        var from = from
        while from <= last, let hit = memchr(base + from, Int32(first), last - from + 1) {
            let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + at, pattern, pattern.count) == 0 { return at }
            from = at + 1
        }
        return nil
    }
}
