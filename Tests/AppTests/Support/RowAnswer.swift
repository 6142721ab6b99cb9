import SQLKit

/// What `row` answers for `column` read as `type`: the value's description, or that it threw. The
/// direct-row tests compare a row of the server's own with its driver kit's, answer by answer.
func rowAnswer<D: Decodable>(_ row: any SQLRow, _ column: String, _ type: D.Type) -> String {
    do {
        return "value \(String(reflecting: try row.decode(column: column, as: type)))"
    } catch {
        return "threw"
    }
}
