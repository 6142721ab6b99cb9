import Crypto
import Foundation
import Testing

@testable import AppCore

@Suite("the gate's digest comparison")
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
}
