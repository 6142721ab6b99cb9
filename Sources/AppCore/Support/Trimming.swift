extension StringProtocol {
    /// `trimmingCharacters(in: .whitespaces)` without Foundation: leading and trailing tabs, space
    /// separators (Unicode's Zs) and zero-width spaces removed, the set Foundation has here.
    /// Foundation's goes through `NSString`, and its first call in a process looks up types at run
    /// time that nothing else on a command's path needs.
    public func trimmingSpaces() -> String {
        trimmed(Self.isSpace)
    }

    /// `trimmingCharacters(in: .whitespacesAndNewlines)` without Foundation: also U+000A to U+000D,
    /// U+0085 and the line and paragraph separators.
    public func trimmingSpacesAndNewlines() -> String {
        trimmed { scalar in
            switch scalar.value {
            case 0x0A...0x0D, 0x85, 0x2028, 0x2029: true
            default: Self.isSpace(scalar)
            }
        }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar == "\u{200B}" || scalar.properties.generalCategory == .spaceSeparator
    }

    private func trimmed(_ drop: (Unicode.Scalar) -> Bool) -> String {
        let scalars = Substring(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !drop($0) }),
            let last = scalars.lastIndex(where: { !drop($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}
