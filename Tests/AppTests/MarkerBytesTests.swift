import Testing

@testable import AppCore

/// The marker lines are read by byte when a line is ASCII, by Character otherwise. On ASCII lines the
/// two readings must agree, whatever the line: generated from the pieces markers are made of.
@Suite("marker lines read by byte")
struct MarkerBytesTests {
    static let pieces = [
        "--", "-", " ", "\t", "  ", "migrate:", "up", "down", "UP", "Migrate:", "upper", "transaction:false",
        "migrate:up", "migrate:down", " migrate:up ", "migrate:down\t",
        "transaction:true", "transaction:maybe", "+goose", "+GOOSE", " Up", "+migrate", "depends:", "atlas:",
        "liquibase formatted sql", "Liquibase Formatted SQL", "x", "select 1;", "\r", "#", "=",
    ]

    static func lines(count: Int) -> [Substring] {
        var state: UInt64 = 0xD1B5_4A32_D192_ED03
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<count).map { _ in
            // Most lines start as a comment, so that the generated ones reach the markers' text.
            let head = next(4) == 0 ? "" : ["--", " --", "-- ", "--\t"][next(4)]
            return Substring(head + (0..<next(6)).map { _ in pieces[next(pieces.count)] }.joined())
        }
    }

    @Test("dbmate's -- migrate:up and -- migrate:down lines, options and refusals alike")
    func dbmate() {
        var (markers, refused) = (0, 0)
        for line in Self.lines(count: 20000) {
            let byByte = Result { () throws(MigrationsInvalid) in try DbmateFormat.marker(line, file: "f.sql", line: 3)
            }
            let byCharacter = Result { () throws(MigrationsInvalid) in
                try DbmateFormat.markerByCharacter(line, file: "f.sql", line: 3)
            }
            switch (byByte, byCharacter) {
            case (.success(let a), .success(let b)):
                #expect(a?.isUp == b?.isUp && a?.transactional == b?.transactional, "\(line.debugDescription)")
                if a != nil { markers += 1 }
            case (.failure(let a), .failure(let b)):
                #expect(a.description == b.description, "\(line.debugDescription)")
                refused += 1
            default:
                Issue.record("\(line.debugDescription): \(byByte) against \(byCharacter)")
            }
        }
        #expect(markers > 200 && refused > 200, "markers \(markers), refused \(refused): enough of each")
    }

    @Test("every tool's marker, in any case")
    func toolMarkers() {
        var found = 0
        for line in Self.lines(count: 20000) {
            let byByte = ToolMarkers.marker(of: line)
            #expect(byByte?.prefix == ToolMarkers.markerByCharacter(of: line)?.prefix, "\(line.debugDescription)")
            if byByte != nil { found += 1 }
        }
        #expect(found > 1000, "enough markers among the lines for the comparison to mean something")
    }
}
