import Foundation

/// The comment lines by which migration tools mark up their files. In a file read as another tool's,
/// such a line means the file was written for that tool: run as plain SQL, its sections lose their
/// meaning (a goose file read as dbmate's ran its `-- +goose Down` section right after its Up one).
/// So a folder with one is invalid, naming file and line; nothing of it runs.
enum ToolMarkers {
    struct Marker {
        /// What follows `--` (and any blanks), in lower case.
        var prefix: String
        var tool: String
        /// The format whose marker it is, when the server reads that tool's folders.
        var format: MigrationFormat?
    }

    /// Every tool's markers: the tools the server reads, and others whose files must never run as SQL.
    static let all: [Marker] =
        MigrationTools.all.flatMap { tool in
            tool.markers.map { Marker(prefix: $0, tool: tool.format.rawValue, format: tool.format) }
        } + [
            Marker(prefix: "liquibase formatted sql", tool: "Liquibase", format: nil)
        ]

    /// The marker `line` is, if any: a `--` comment (after any blanks) whose text starts with a tool's prefix.
    static func marker(of line: Substring) -> Marker? {
        // Bytes first: a line whose first byte after blanks is not "-" is no comment.
        guard line.utf8.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) == UInt8(ascii: "-")
        else { return nil }
        // An ASCII line (nearly every one): a byte is a Character there, so the same reading by byte.
        guard line.utf8.contains(where: { $0 >= 0x80 }) else { return asciiMarker(of: line.utf8) }
        return markerByCharacter(of: line)
    }

    /// Every marker's prefix as bytes (all of them ASCII), beside the marker.
    private static let prefixBytes: [(bytes: [UInt8], marker: Marker)] = all.map { (Array($0.prefix.utf8), $0) }

    private static func asciiMarker(of line: Substring.UTF8View) -> Marker? {
        func blank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let trimmed = line.drop(while: blank)
        guard trimmed.starts(with: "--".utf8) else { return nil }
        // The text after the blanks, lower-cased as ASCII: the 32 characters `markerByCharacter` keeps.
        let text = trimmed.dropFirst(2).drop(while: blank).prefix(32).map { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
        }
        return prefixBytes.first { text.starts(with: $0.bytes) }?.marker
    }

    /// `marker(of:)`, read by Character: for a line with bytes beyond ASCII, where a combining mark can
    /// make a `-` or a blank part of another Character.
    static func markerByCharacter(of line: Substring) -> Marker? {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        guard trimmed.hasPrefix("--") else { return nil }
        let text = trimmed.dropFirst(2).drop(while: { $0 == " " || $0 == "\t" }).prefix(32).lowercased()
        return all.first { text.hasPrefix($0.prefix) }
    }

    /// The first line of `text` that is a marker of a tool other than `format`'s, with its 1-based number.
    static func foreign(in text: String, readAs format: MigrationFormat?) -> (
        line: Int, marker: Marker, text: Substring
    )? {
        // Cheap first: a text without a "-" has no marker.
        guard text.utf8.contains(UInt8(ascii: "-")) else { return nil }
        for (index, line) in text.lines().enumerated() {
            if let marker = marker(of: line), marker.format == nil || marker.format != format {
                return (index + 1, marker, line)
            }
        }
        return nil
    }

    /// Throws when `text` (the file `file`, read as `format`'s) holds another tool's marker.
    static func refuseForeign(_ text: String, file: String, readAs format: MigrationFormat) throws(MigrationsInvalid) {
        guard let found = foreign(in: text, readAs: format) else { return }
        let written = found.text.trimmingSpaces().prefix(80)
        throw MigrationsInvalid(
            file: file, line: found.line,
            reason: "\"\(written)\" is \(found.marker.tool)'s marker, but the folder is read as \(format.rawValue)'s; "
                + "a file written for another tool is never run (set MIGRATIONS_FORMAT, or point MIGRATIONS_DIR at the right folder)"
        )
    }
}
