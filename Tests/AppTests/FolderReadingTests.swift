import Foundation
import Testing

@testable import AppCore

/// The byte-level pieces a folder is read with give what the slower, general ones they replaced gave.
@Suite("reading a folder, byte by byte")
struct FolderReadingTests {
    /// Texts over an alphabet with multi-byte characters, a combining mark, blanks and newlines, from a
    /// fixed seed (the same texts every run).
    static func texts(count: Int) -> [String] {
        let alphabet = ["a", "\n", "\n", "é", "\u{301}", " ", "-", "€", "𝄞"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let fixed = ["", "\n", "\n\n", "a", "a\n", "\na", "a\n\nb\n", "é\n€\n\n𝄞", "\n\u{301}x"]
        return fixed + (0..<count).map { _ in (0..<next(24)).map { _ in alphabet[next(alphabet.count)] }.joined() }
    }

    @Test(
        "a folder of many files, read and parsed on two threads: each migration has its own file's text, and of several faults the first in the files' order is the one reported"
    )
    func readAheadKeepsFilesApart() throws {
        let folder = try MigrationsDir()
        let count = MigrationFolder.Listing.splitMinimum * 3
        for i in 1...count {
            try folder.write(String(format: "%03d_t%d.sql", i, i), "-- migrate:up\nCREATE TABLE t\(i) (id INTEGER);\n")
        }
        for _ in 0..<20 {
            let (format, migrations, _) = try MigrationFolder.load(folder.path, dialect: .sqlite)
            #expect(format == .dbmate)
            #expect(migrations.map(\.statements) == (1...count).map { ["CREATE TABLE t\($0) (id INTEGER)"] })
        }
        for name in ["200_bad.sql", "100_bad.sql"] {
            try Data([0x2D, 0x2D, 0x20, 0xFF, 0x0A]).write(to: folder.dir.url.appendingPathComponent(name))
        }
        for _ in 0..<20 {
            #expect(throws: MigrationsInvalid(file: "100_bad.sql", line: nil, reason: "the file is not UTF-8 text")) {
                try MigrationFolder.load(folder.path, dialect: .sqlite)
            }
        }
        // Parsed on two threads, checked in order: a file whose version another file has is refused for
        // that, before anything wrong inside it, and before any later file's fault.
        try folder.remove("100_bad.sql")
        try folder.remove("200_bad.sql")
        try folder.write("020_zdup.sql", "CREATE TABLE z (id INTEGER);\n")
        try folder.write("030_zz.sql", "CREATE TABLE zz (id INTEGER);\n")
        for _ in 0..<20 {
            let duplicate = MigrationsInvalid(
                file: "020_zdup.sql", line: nil, reason: "version 20 is also used by 020_t20.sql")
            #expect(throws: duplicate) {
                try MigrationFolder.load(folder.path, format: .dbmate, dialect: .sqlite)
            }
        }
    }

    @Test("lines() gives the lines split(separator:) gives, empty ones kept or omitted, as parts of the text")
    func linesAsSplit() {
        for text in Self.texts(count: 600) {
            for omitting in [false, true] {
                let lines = text.lines(omittingEmpty: omitting)
                let split = text.split(separator: "\n", omittingEmptySubsequences: omitting).map(String.init)
                #expect(lines.map(String.init) == split, "\(text.debugDescription), omitting: \(omitting)")
                // Each line is a part of the text itself, so a line's indices find its place in it.
                for line in lines { #expect(String(text[line.startIndex..<line.endIndex]) == String(line)) }
            }
        }
    }

    @Test("containsBytes finds what a search of the UTF-8 bytes finds, in a String and in a Substring")
    func containsBytesAsByteSearch() {
        func naive(_ text: some StringProtocol, _ needle: String) -> Bool {
            let (hay, pattern) = (Array(text.utf8), Array(needle.utf8))
            guard !pattern.isEmpty else { return true }
            guard hay.count >= pattern.count else { return false }
            return (0...(hay.count - pattern.count)).contains { Array(hay[$0..<($0 + pattern.count)]) == pattern }
        }
        let needles = ["", "a", "-", "--", "é", "\u{301}", "a\n", "€-", "𝄞 a", "aaa"]
        for text in Self.texts(count: 300) {
            for needle in needles {
                #expect(text.containsBytes(needle) == naive(text, needle), "\(text.debugDescription) / \(needle)")
                let part = text.dropFirst()
                #expect(part.containsBytes(needle) == naive(part, needle), "\(part.debugDescription) / \(needle)")
            }
        }
    }

    @Test("a name's leading digits are the leading Characters that are ASCII digits, a combining mark and all")
    func leadingDigitsAsCharacters() {
        let names = [
            "", "x", "1", "007_a.sql", "12a", "12\u{301}3_a.sql", "1\u{301}", "١٢_arabic.sql", "12é.sql", "12€", "99",
            "20261206_b.sql", "3\u{20E3}_keycap.sql",
        ]
        for name in names {
            let expected = name.prefix(while: { $0.isASCII && $0.isNumber })
            #expect(Migration.leadingDigits(of: name) == expected, "\(name.debugDescription)")
        }
    }

    @Test(
        "a file is read whole, past its first block; an empty one is empty; a folder, a pipe, a device or nothing is nil"
    )
    func contentsOfFiles() throws {
        let dir = try TempDir()
        let big = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try writeFile(dir.path + "/big.sql", big)
        try dir.write("empty.sql", "")
        try FileManager.default.createDirectory(
            at: dir.url.appendingPathComponent("sub"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(
            atPath: dir.path + "/link.sql", withDestinationPath: dir.path + "/big.sql")
        #expect(RegularFile.contents(of: dir.path + "/big.sql") == big)
        #expect(RegularFile.contents(of: dir.path + "/link.sql") == big)
        #expect(RegularFile.contents(of: dir.path + "/empty.sql") == Data())
        #expect(RegularFile.contents(of: dir.path + "/sub") == nil)
        #expect(RegularFile.contents(of: dir.path + "/missing.sql") == nil)
        // A pipe with no writer would block an ordinary open, and a device may never end: neither is read.
        #expect(mkfifo(dir.path + "/pipe.sql", 0o600) == 0)
        #expect(RegularFile.contents(of: dir.path + "/pipe.sql") == nil)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/zero.sql", withDestinationPath: "/dev/zero")
        #expect(RegularFile.contents(of: dir.path + "/zero.sql") == nil)
    }

    @Test("a listing names every entry, sorted, and counts a link to a folder as a folder, a link to a file as none")
    func listingKinds() throws {
        let dir = try TempDir()
        try dir.write("2_b.sql", "x")
        try dir.write("1_a.sql", "x")
        let manager = FileManager.default
        try manager.createDirectory(at: dir.url.appendingPathComponent("sub"), withIntermediateDirectories: false)
        let elsewhere = try TempDir()
        try manager.createSymbolicLink(atPath: dir.path + "/linked", withDestinationPath: elsewhere.path)
        try manager.createSymbolicLink(atPath: dir.path + "/3_c.sql", withDestinationPath: dir.path + "/1_a.sql")
        try manager.createSymbolicLink(atPath: dir.path + "/dangling.sql", withDestinationPath: dir.path + "/none")
        let listing = try MigrationFolder.Listing(dir.path)
        #expect(listing.names == ["1_a.sql", "2_b.sql", "3_c.sql", "dangling.sql", "linked", "sub"])
        #expect(listing.directories == ["linked", "sub"])
        #expect(listing.sqlFiles == ["1_a.sql", "2_b.sql", "3_c.sql", "dangling.sql"])
        #expect(throws: MigrationsInvalid.self) { try MigrationFolder.Listing(dir.path + "/1_a.sql") }
    }

    @Test(
        "the linter finds each statement's line in order, newlines counted as Swift counts them; the file named by the id first"
    )
    func statementLines() throws {
        let text = "-- a\nSELECT 1;\n\n-- b\u{2028}x\u{0C}SELECT\n  2;\r\nSELECT 1;\n"
        #expect(MigrationSources.lines(of: ["SELECT 1;", "SELECT\n  2;", "SELECT 1;"], in: text) == [2, 6, 8])
        #expect(MigrationSources.lines(of: ["SELECT 1;", "SELECT 3;"], in: text) == nil)
        #expect(MigrationSources.lines(of: ["SELECT\n  2;", "-- a"], in: text) == nil, "in order only")

        let folder = try MigrationsDir([
            "1_a.sql": "SELECT 1;\n", "2_b.sql": "\n\nSELECT 1;\n", "11_a.sql": "\n\n\n\nSELECT 1;\n",
        ])
        let sources = MigrationSources(folder: folder.path)
        let migration = { (id: String) in Migration(id: id, statements: ["SELECT 1;"]) }
        #expect(sources.locate(migration("2_b"))?.lines == [3])
        #expect(
            sources.locate(migration("1_a"))?.lines == [1], "the file it names, not 11_a.sql, which holds its id too")
        #expect(sources.locate(migration("1"))?.lines == [5], "none named by it exactly: the first whose name holds it")
        #expect(
            sources.locate(migration("3_c"))?.lines == [5], "no file named by it: the first that holds it (11_a.sql)")
    }

    @Test("a one-shot command's folder is read once; a server's is read again when it changes")
    func oneShotReadsOnce() throws {
        let folder = try MigrationsDir(["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n"])
        let once = MigrationCatalog.load(folder: folder.path, dialect: .sqlite, rereads: false)
        let again = MigrationCatalog.load(folder: folder.path, dialect: .sqlite)
        try folder.write("2_b.sql", "-- migrate:up\nCREATE TABLE b (id INTEGER);\n")
        #expect(once.current().migrations.map(\.id) == ["1_a"])
        #expect(again.current().migrations.map(\.id) == ["1_a", "2_b"])
    }
}
