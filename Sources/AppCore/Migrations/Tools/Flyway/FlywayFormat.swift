import Foundation

/// Flyway's format: versioned migrations `V<version>__<description>.sql`, the version's parts separated
/// by `.` or `_` (`1`, `1.1`, `2_1`) and compared as numbers. No down migrations (undo files `U…` are a
/// paid Flyway feature: they are ignored here, as Flyway Community ignores them). Flyway's history is
/// `flyway_schema_history`, a row per applied migration with the CRC32 of its lines.
enum FlywayFormat {
    struct Name: Equatable {
        /// As Flyway writes it in the history: `_` read as `.`.
        var version: String
        /// The parts as numbers without leading zeros, trailing zero parts dropped (`1.0` is `1`).
        var parts: [String]
        /// `_` read as a space.
        var description: String
    }

    /// The parts of `V<version>__<description>.sql`, or nil for any other name.
    static func parseName(_ name: String) -> Name? {
        guard name.hasPrefix("V"), name.hasSuffix(".sql"), let separator = name.range(of: "__") else { return nil }
        let version = name[name.index(after: name.startIndex)..<separator.lowerBound].replacingOccurrences(
            of: "_", with: ".")
        guard let parts = parts(of: version) else { return nil }
        let description = name[separator.upperBound..<name.index(name.endIndex, offsetBy: -4)].replacingOccurrences(
            of: "_", with: " ")
        return Name(version: version, parts: parts, description: description)
    }

    /// `1.02.0` → `["1", "2"]`; nil unless it is digits separated by single dots.
    static func parts(of version: String) -> [String]? {
        let pieces = version.split(separator: ".", omittingEmptySubsequences: false)
        guard !pieces.isEmpty, pieces.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            return nil
        }
        var parts = pieces.map { piece in
            String(piece.drop(while: { $0 == "0" })).isEmpty ? "0" : String(piece.drop(while: { $0 == "0" }))
        }
        while parts.count > 1, parts.last == "0" { parts.removeLast() }
        return parts
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        var migrations: [Migration] = []
        var byVersion: [[String]: String] = [:]
        for name in folder.sqlFiles {
            if name.hasPrefix("U") { continue }
            if name.hasPrefix("R__") {
                throw MigrationsInvalid(
                    file: name, line: nil,
                    reason: "repeatable migrations (R__) are not supported; make it a versioned one (V<version>__)")
            }
            guard let parsed = parseName(name) else {
                throw MigrationsInvalid(
                    file: name, line: nil,
                    reason: "the name must be V<version>__<description>.sql, as in V1_1__create_widgets.sql")
            }
            if let other = byVersion[parsed.parts] {
                throw MigrationsInvalid(
                    file: name, line: nil, reason: "version \(parsed.version) is also used by \(other)")
            }
            byVersion[parsed.parts] = name
            let text = try folder.text(of: name)
            if let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex(where: {
                $0.contains("${")
            }) {
                throw MigrationsInvalid(
                    file: name, line: line + 1, reason: "Flyway placeholders (${…}) are not supported")
            }
            migrations.append(
                Migration(
                    id: String(name.dropLast(4)),
                    statements: try MigrationFolder.statements(text, file: name, lineOffset: 0, dialect: dialect),
                    down: nil, transactional: true, downTransactional: true,
                    checksum: Migration.checksum(ofSection: text), toolKey: parsed.version,
                    toolChecksums: [String(checksum(text))], orderKey: parsed.parts
                ))
        }
        return migrations
    }

    /// Flyway's checksum: a CRC32 over the file's lines, each without its line ending and the first
    /// without a byte order mark, as a signed 32-bit integer.
    static func checksum(_ text: String) -> Int32 {
        var crc = CRC32()
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        // Java's readLine ends a line at \n, \r or \r\n; the endings themselves are not summed.
        for line in body.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        {
            crc.update(Array(line.utf8))
        }
        return Int32(bitPattern: crc.value)
    }
}

/// CRC-32 (IEEE 802.3, as java.util.zip.CRC32).
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var crc: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: [UInt8]) {
        for byte in bytes { crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }

    var value: UInt32 { crc ^ 0xFFFF_FFFF }
}

extension MigrationFormat {
    static let flyway = MigrationFormat(declaring: "flyway")
}

extension FlywayFormat: MigrationTool {
    static var format: MigrationFormat { .flyway }
    static let markers: [String] = []
    static var history: any ToolHistory { FlywayHistory() }

    /// A `V<version>__<description>.sql` file.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.sqlFiles.contains { parseName($0) != nil }
    }

    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("V\(stamp)__\(slug).sql", "")]
    }
}
