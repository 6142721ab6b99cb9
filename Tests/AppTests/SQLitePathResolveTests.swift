import Foundation
import Testing

@testable import AppCore

@Suite("where an SQLite path points")
struct SQLitePathResolveTests {
    @Test("a path and its folder are the ones Foundation's URL gives, on generated absolute and relative paths")
    func agreesWithURL() {
        let pieces = ["a", "b.sqlite", "data", ".", "..", "~", "", " x", "é", "%20", "a:b", "\\", "-"]
        var state: UInt64 = 0x5851_F42D_4C95_7F2D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var paths = ["data/app.sqlite", "/x.sqlite", "/tmp/a/b.sqlite", "app.sqlite", "/tmp/dir/", "~/x.sqlite"]
        for _ in 0..<5000 {
            let parts = (0..<(1 + next(4))).map { _ in pieces[next(pieces.count)] }
            paths.append((next(2) == 0 ? "/" : "") + parts.joined(separator: "/"))
        }
        for path in paths where !path.isEmpty {
            let url = URL(fileURLWithPath: path)
            let resolved = SQLiteEngine.resolved(path)
            #expect(resolved.file == url.path, "\(path)")
            #expect(resolved.folder == url.deletingLastPathComponent().path, "\(path)")
        }
    }
}
