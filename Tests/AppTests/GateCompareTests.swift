import Crypto
import Foundation
import Testing

@testable import AppCore

@Suite("the gate's token parsing and digest comparison")
struct GateCompareTests {
    @Test("equal digests match; a digest with any one bit changed, or of another length, does not")
    func everyBitCounts() {
        let digest = SHA256.hash(data: Data("a-migration-secret".utf8))
        let bytes = Array(digest)
        #expect(MigrationGate.equalInConstantTime(digest, bytes))
        for index in bytes.indices {
            for bit in 0..<8 {
                var changed = bytes
                changed[index] ^= UInt8(1) << bit
                #expect(!MigrationGate.equalInConstantTime(digest, changed), "byte \(index), bit \(bit)")
            }
        }
        #expect(!MigrationGate.equalInConstantTime(digest, Array(bytes.dropLast())))
        #expect(!MigrationGate.equalInConstantTime(digest, bytes + [0]))
        #expect(!MigrationGate.equalInConstantTime(digest, []))
    }

    @Test("Bearer credentials: the scheme in any case, one space or more, then a b64token with padding only at its end")
    func bearerTokens() {
        let cases: [(String, Substring?)] = [
            ("Bearer abc", "abc"), ("bEaReR abc", "abc"), ("Bearer    abc", "abc"), ("Bearer a-._~+/9Z", "a-._~+/9Z"),
            ("Bearer abc==", "abc=="), ("Bearer abc=d", nil), ("Bearer =", nil), ("Bearer ==abc", nil),
            ("Bearer ", nil), ("Bearer     ", nil), ("Bearer", nil), ("Bearerabc", nil), ("Bearer\tabc", nil),
            ("Bearer abc ", nil), ("Bearer ab c", nil), ("Bearer abcü", nil), ("Bearer ü", nil), ("Basic abc", nil),
            ("Bearér abc", nil), ("", nil),
        ]
        for (header, token) in cases {
            #expect(MigrationGate.bearerToken(header) == token, "\(header)")
        }
        // Against a reading by Character (the parser's earlier form), on strings drawn from the
        // characters that matter here: the same answer for every one.
        var random = SplitMix(seed: 30)
        let pieces = ["Bearer", "bearer", " ", " ", "=", "a", "Z", "9", "-", "~", "/", "!", "\t", "é", "e\u{301}"]
        for _ in 0..<20_000 {
            let header = (0..<Int(random.next() % 8)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }
                .joined()
            #expect(MigrationGate.bearerToken(header) == Self.byCharacter(header), "\(header.debugDescription)")
        }
    }

    /// The RFC 6750 reading walked by Character, as a reference.
    static func byCharacter(_ header: String) -> Substring? {
        guard header.utf8.count > 7, header.prefix(6).lowercased() == "bearer", header.dropFirst(6).first == " "
        else { return nil }
        let rest = header.dropFirst(6).drop(while: { $0 == " " })
        guard let first = rest.first, first != "=" else { return nil }
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/")
        let body = rest.prefix(while: { allowed.contains($0) })
        let padding = rest.dropFirst(body.count)
        return padding.allSatisfy({ $0 == "=" }) ? rest : nil
    }
}
