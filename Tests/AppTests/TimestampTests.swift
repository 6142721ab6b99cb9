import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("migrator timestamps")
struct TimestampTests {
    @Test("history timestamps are RFC 3339 UTC with milliseconds, and agree with Foundation's formatter")
    func rfc3339() {
        for seconds in [0.0, 1_700_000_000.123, 4_102_444_799.999, 951_782_400.5] {
            let date = Date(timeIntervalSince1970: seconds)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            #expect(RFC3339.string(from: date) == formatter.string(from: date))
        }
    }
}
