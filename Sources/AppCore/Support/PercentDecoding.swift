extension StringProtocol {
    /// `removingPercentEncoding` without Foundation: each `%` and two hex digits made the byte they
    /// name; nil when a `%` is not followed by two hex digits, or the bytes are not UTF-8. (Foundation's
    /// here also reads a lone continuation byte, `%A9`, as U+FFFD, where it refuses `%FF`; this one
    /// refuses both.) Foundation's goes through `CFString`, with run-time type lookups on a command's
    /// path that nothing else there needs.
    public func removingPercentEncodingBytes() -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var rest = utf8[...]
        while let byte = rest.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = rest.popFirst().flatMap(Self.hexValue), let low = rest.popFirst().flatMap(Self.hexValue)
            else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
