/// Generates secrets from the system CSPRNG (getrandom on Linux).
public enum SecretGenerator {
    /// 32 random bytes as 64 lowercase hex characters: the replacement for `openssl rand -hex 32`.
    public static func hex(byteCount: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(byteCount * 2)
        for _ in 0..<byteCount {
            let byte = UInt8.random(in: 0...255, using: &generator)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return out
    }
}
