import Foundation

/// What a command prints on stdout: each line written as it happens (a pipe would otherwise hold it
/// back), with color and symbols only on a terminal and never when `NO_COLOR` is set.
struct Output {
    let fancy: Bool

    init() {
        let noColor = getenv("NO_COLOR").map { String(cString: $0) } ?? ""
        fancy = isatty(STDOUT_FILENO) == 1 && noColor.isEmpty
    }

    func line(_ text: String) {
        Self.write(text + "\n", to: STDOUT_FILENO)
    }

    /// All of `text`, written straight to `fd` (a write cut short goes on from where it stopped); an
    /// error such as a closed pipe ends it. Not through `FileHandle`, whose first write in a process
    /// costs run-time type lookups on every command's path.
    static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let wrote = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if wrote > 0 {
                    done += wrote
                } else if wrote < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    func green(_ text: String) -> String { paint(text, 32) }
    func yellow(_ text: String) -> String { paint(text, 33) }
    func red(_ text: String) -> String { paint(text, 31) }
    func dim(_ text: String) -> String { paint(text, 2) }

    private func paint(_ text: String, _ code: Int) -> String {
        fancy ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// `12 ms`, `3.4 s`, `2 min 5 s`.
    static func duration(milliseconds ms: Int64) -> String {
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return "\(ms / 1000).\(ms % 1000 / 100) s" }
        return "\(ms / 60_000) min \(ms % 60_000 / 1000) s"
    }

    /// Rows as columns padded to their widest cell (the last column is not padded). `paint` colors a
    /// cell after it is padded (row, column, padded text), so color codes never skew the columns.
    static func table(_ rows: [[String]], paint: (Int, Int, String) -> String = { $2 }) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.enumerated().map { index, row in
            row.enumerated().map { column, cell in
                let padded =
                    column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                return paint(index, column, padded)
            }.joined(separator: "  ")
        }
    }
}
