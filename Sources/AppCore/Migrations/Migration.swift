import Crypto
import Foundation

/// One schema change: the built-in ones are defined in Swift (`Catalog/`), a team's come from a folder
/// of SQL files (`MigrationFolder`).
///
/// Once applied, a migration is never edited: its checksum in the history table makes an edit visible,
/// and the migrator refuses to run on a history that no longer matches.
public struct Migration: Sendable, Identifiable {
    /// `NNNN_what_it_does`: the file name without `.sql` for a folder's migrations.
    public let id: String
    /// The leading decimal digits of the id, without leading zeros; migrations apply in its numeric order.
    public let version: String
    /// The up section's statements, executed in order.
    public let statements: [String]
    /// The down section's statements; nil when the migration has none (it cannot be rolled back).
    public let down: [String]?
    /// False for `-- migrate:up transaction:false`: run outside a transaction, under the session lock.
    public let transactional: Bool
    /// False for `-- migrate:down transaction:false`.
    public let downTransactional: Bool
    /// SHA-256, as lowercase hex; computed once, compared on every run.
    public let checksum: String
    /// How the folder's own tool names this migration in its history table: dbmate's version as
    /// written in the file name, golang-migrate's version number, sql-migrate's file name. The id for
    /// the built-in set.
    public let toolKey: String
    /// The checksums the tool keeps for this migration, when it keeps one (Prisma's SHA-256, Flyway's
    /// CRC32): the first is what is written; any of them matches (Prisma accepts the file with either
    /// line ending). Empty for tools that keep none.
    public let toolChecksums: [String]
    /// What the tool records of the migration's text, where it records any: Supabase's statements, as
    /// its CLI split them. Empty for the other tools.
    public let toolStatements: [String]
    /// The version's parts, compared as numbers one by one: one part for most tools, more for Flyway's
    /// `1.2.3`.
    public let orderKey: [String]

    /// A built-in migration: one transaction, no down section, checksummed over its statements.
    public init(id: String, statements: [String]) {
        self.init(
            id: id, statements: statements, down: nil, transactional: true, downTransactional: true,
            checksum: SecretGenerator.hexString(sha256(ofUTF8: statements.joined(separator: ";\n")))
        )
    }

    public init(
        id: String, statements: [String], down: [String]?, transactional: Bool, downTransactional: Bool,
        checksum: String,
        toolKey: String? = nil, toolChecksums: [String] = [], orderKey: [String]? = nil,
        toolStatements: [String] = []
    ) {
        self.id = id
        self.toolStatements = toolStatements
        self.toolKey = toolKey ?? id
        self.toolChecksums = toolChecksums
        self.version = Self.version(of: id) ?? "0"
        self.statements = statements
        self.down = down
        self.transactional = transactional
        self.downTransactional = downTransactional
        self.checksum = checksum
        self.orderKey = orderKey ?? [self.version]
    }

    /// An `orderKey` that orders `name` as text, code point by code point (a shorter name before a
    /// longer one it begins): for tools that sort their migrations by name, not by number. Each code
    /// point is one part, compared as a number, and a missing part counts as 0.
    static func textOrderKey(_ name: String) -> [String] {
        name.unicodeScalars.map { String($0.value) }
    }

    /// The characters at the start of `name` that are ASCII digits (a digit with a combining mark
    /// after it is not one). By byte where the byte after the digits is ASCII, so no mark can follow;
    /// by Character otherwise: Character properties cost a lookup each, and every file name is read so.
    static func leadingDigits(of name: String) -> Substring {
        let bytes = name.utf8
        let end = bytes.firstIndex { $0 < UInt8(ascii: "0") || $0 > UInt8(ascii: "9") } ?? bytes.endIndex
        guard end == bytes.endIndex || bytes[end] < 0x80 else {
            return name.prefix(while: { $0.isASCII && $0.isNumber })
        }
        return name[..<end]
    }

    /// The leading digits of `name` without leading zeros, or nil when it does not start with a digit.
    static func version(of name: String) -> String? {
        version(ofDigits: leadingDigits(of: name))
    }

    /// `digits` (a name's `leadingDigits`) without leading zeros, or nil when there are none.
    static func version(ofDigits digits: Substring) -> String? {
        guard !digits.isEmpty else { return nil }
        let trimmed = digits.drop(while: { $0 == "0" })
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    /// The order migrations apply in: by version, then by id (two sql-migrate files may share a version).
    static func precedes(_ a: Migration, _ b: Migration) -> Bool {
        a.orderKey != b.orderKey ? orderLess(a.orderKey, b.orderKey) : a.id < b.id
    }

    /// Versions of several parts, compared part by part as numbers; a missing part counts as 0.
    static func orderLess(_ a: [String], _ b: [String]) -> Bool {
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : "0"
            let y = index < b.count ? b[index] : "0"
            if x != y { return versionLess(x, y) }
        }
        return false
    }

    /// Numeric order of two versions of any length (no leading zeros): the shorter is smaller.
    static func versionLess(_ a: String, _ b: String) -> Bool {
        a.count != b.count ? a.count < b.count : a < b
    }

    /// SHA-256 hex of a file's up section, as written on any OS: CRLF read as LF, a leading BOM
    /// dropped, and trailing blank space ignored (so adding a down section later is not drift).
    static func checksum(ofSection text: String) -> String {
        // Byte by byte (each character dropped or replaced here is one byte of UTF-8, the BOM aside).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var utf8 = text.utf8[...]
        if utf8.starts(with: [0xEF, 0xBB, 0xBF]) { utf8 = utf8.dropFirst(3) }
        var pendingCR = false
        for byte in utf8 {
            if pendingCR, byte != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\r")) }
            pendingCR = byte == UInt8(ascii: "\r")
            if !pendingCR { bytes.append(byte) }
        }
        if pendingCR { bytes.append(UInt8(ascii: "\r")) }
        while let last = bytes.last,
            [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(last)
        {
            bytes.removeLast()
        }
        return SecretGenerator.hexString(SHA256.hash(data: bytes))
    }
}

extension Migration {
    /// Every migration the app ships, in order. Add a new file under Catalog/ and list it here.
    public static let all: [Migration] = [
        .createUsers,
        .createAccounts,
        .createSessions,
        .createVerificationTokens,
    ]
}
