import SQLKit
import Testing

/// What `row` answers for `column` read as `type`: the value's description, or that it threw. The
/// direct-row tests compare a row of the server's own with its driver kit's, answer by answer.
func rowAnswer<D: Decodable>(_ row: any SQLRow, _ column: String, _ type: D.Type) -> String {
    do {
        return "value \(String(reflecting: try row.decode(column: column, as: type)))"
    } catch {
        return "threw"
    }
}

/// `SELECT` of each of `values` (SQL literals) as a column `c0`, `c1`, ….
func selectingEach(_ values: [String]) -> SQLQueryString {
    SQLQueryString(stringLiteral: "SELECT " + values.enumerated().map { "\($1) AS c\($0)" }.joined(separator: ", "))
}

/// Expects `direct` and `kit`, rows of `selectingEach(values)`, to give the same `answers` for each
/// column (a difference is named by its value); returns how many of `direct`'s answers were values, so
/// a caller can see the comparison read something.
func compareAnswers(
    _ direct: any SQLRow, _ kit: any SQLRow, values: [String], answers: (any SQLRow, String) -> [String]
) -> Int {
    var read = 0
    for index in values.indices {
        let (a, b) = (answers(direct, "c\(index)"), answers(kit, "c\(index)"))
        #expect(a == b, "\(values[index])")
        read += a.filter { $0.hasPrefix("value") }.count
    }
    return read
}
