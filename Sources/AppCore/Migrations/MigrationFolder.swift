import Foundation

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
            let written = found.text.trimmingCharacters(in: .whitespaces).prefix(80)
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
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            } catch {
                throw MigrationsInvalid(file: path, line: nil, reason: "the folder cannot be read (MIGRATIONS_DIR)")
            }
            directories = Set(names.filter { Self.kind(of: Self.join(path, $0)) == S_IFDIR })
        }

        /// True when the text of a `.sql` file directly in the folder passes `test` (a tool's marker line).
        func anySQLText(_ test: (String) -> Bool) -> Bool {
            sqlFiles.contains { name in (try? text(of: name)).map(test) ?? false }
        }

        /// The `.sql` files directly in the folder, sorted by name.
        var sqlFiles: [String] { names.filter { $0.hasSuffix(".sql") && !directories.contains($0) } }

        func fileExists(_ relative: String) -> Bool {
            guard let kind = Self.kind(of: Self.join(path, relative)) else { return false }
            return kind != S_IFDIR
        }

        /// The file type bits of what `path` names (links followed), or nil when nothing is there.
        static func kind(of path: String) -> mode_t? {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return info.st_mode & S_IFMT
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
            if let text = texts.value[name] { return text }
            let data = try raw(of: name)
            guard var text = String(validating: data, as: UTF8.self) else {
                throw MigrationsInvalid(file: name, line: nil, reason: "the file is not UTF-8 text")
            }
            if data.contains(UInt8(ascii: "\r")) { text = text.replacingOccurrences(of: "\r\n", with: "\n") }
            if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
            texts.value[name] = text
            return text
        }

        /// The texts read so far, by name.
        private let texts = Box<[String: String]>([:])

        private final class Box<Value> {
            var value: Value
            init(_ value: Value) { self.value = value }
        }

        /// The file's bytes as they are, for the tools that checksum them (Prisma, Drizzle).
        func raw(of name: String) throws(MigrationsInvalid) -> Data {
            guard let data = FileManager.default.contents(atPath: Self.join(path, name)) else {
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
    /// whole text into Characters first.
    func lines(omittingEmpty: Bool = false) -> [Substring] {
        utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: omittingEmpty).map {
            self[$0.startIndex..<$0.endIndex]
        }
    }
}

extension StringProtocol {
    /// True when `needle` occurs in the text, compared byte by byte (UTF-8): what `contains` answers,
    /// without Foundation's, which copies the whole text into an NSString first.
    func containsBytes(_ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard let first = pattern.first else { return true }
        let bytes = utf8
        var index = bytes.startIndex
        while let found = bytes[index...].firstIndex(of: first) {
            if bytes[found...].starts(with: pattern) { return true }
            index = bytes.index(after: found)
        }
        return false
    }
}
