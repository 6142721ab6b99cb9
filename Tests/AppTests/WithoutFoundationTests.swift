import Foundation
import Testing

@testable import AppCore

@Suite("helpers that stand in for Foundation on a command's path, checked against Foundation")
struct WithoutFoundationTests {
    /// Every kind of scalar the two sets tell apart: each space separator, the tab, the line breaks,
    /// the other separators, near misses (the zero-width space, which Foundation counts, and the
    /// byte-order mark, which it does not),
    /// a combining mark, a letter outside the BMP, and CR LF as one character.
    static let pieces = [
        "a", "Z", "0", "-", " ", "\t", "\n", "\r", "\r\n", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}",
        "\u{2000}", "\u{2005}", "\u{200A}", "\u{200B}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}", "\u{3000}",
        "\u{FEFF}", "\u{301}", "é", "🙂", "\u{1F}", "\u{7F}",
    ]

    /// `count` strings of up to 8 pieces, the same ones each run.
    static func samples(count: Int) -> [String] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<count).map { _ in (0..<next(9)).map { _ in pieces[next(pieces.count)] }.joined() }
    }

    @Test("trimmingSpaces and trimmingSpacesAndNewlines agree with Foundation's sets on generated strings")
    func agreesWithFoundation() {
        for text in Self.samples(count: 20000) + Self.pieces {
            #expect(text.trimmingSpaces() == text.trimmingCharacters(in: .whitespaces), "\(Array(text.unicodeScalars))")
            #expect(
                text.trimmingSpacesAndNewlines() == text.trimmingCharacters(in: .whitespacesAndNewlines),
                "\(Array(text.unicodeScalars))")
            let sub = text.dropFirst()
            #expect(sub.trimmingSpaces() == sub.trimmingCharacters(in: .whitespaces))
        }
    }

    @Test("the sets as Foundation has them here, on each space separator and its near misses")
    func sets() {
        #expect(" \t\u{A0}x\u{3000}\u{202F} ".trimmingSpaces() == "x")
        #expect("\u{200B}x".trimmingSpaces() == "x", "Foundation counts the zero-width space as one")
        #expect("\u{FEFF}x".trimmingSpaces() == "\u{FEFF}x", "a byte-order mark is not")
        #expect("\nx\n".trimmingSpaces() == "\nx\n", "line breaks stay")
        #expect("\n\u{2028}x\u{85}\r\n".trimmingSpacesAndNewlines() == "x")
        #expect(" \t ".trimmingSpaces().isEmpty)
    }

    @Test(
        "removingPercentEncodingBytes agrees with Foundation's removingPercentEncoding on generated strings, but refuses every byte that is not UTF-8"
    )
    func percentDecoding() {
        let pieces = [
            "a", "/", " ", "%", "%2", "%20", "%2f", "%2F", "%C3", "%A9", "%C3%A9", "%FF", "%zz", "é", "%00", "+",
        ]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<20000 {
            let text = (0..<next(7)).map { _ in pieces[next(pieces.count)] }.joined()
            let foundations = text.removingPercentEncoding
            if let foundations, foundations.unicodeScalars.contains("\u{FFFD}") {
                // Foundation's quirk (a lone continuation byte read as U+FFFD): refused here.
                #expect(text.removingPercentEncodingBytes() == nil, "\(text)")
            } else {
                #expect(text.removingPercentEncodingBytes() == foundations, "\(text)")
            }
        }
    }

    @Test("the process environment read from environ is ProcessInfo's, a variable set since included")
    func environment() {
        setenv("APP_TEST_ENVIRONMENT_READ", "a=b c", 1)
        defer { unsetenv("APP_TEST_ENVIRONMENT_READ") }
        let read = ProcessEnvironment.current()
        #expect(read["APP_TEST_ENVIRONMENT_READ"] == "a=b c")
        #expect(read == ProcessInfo.processInfo.environment)
    }
}
