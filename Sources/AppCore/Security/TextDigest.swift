import Crypto

/// SHA-256 of a text's UTF-8 bytes, hashed where they lie. `SHA256.hash(data: Data(text.utf8))` asks
/// the Swift runtime whether the view is `ContiguousBytes`, a walk over every protocol conformance
/// record of the binary, and the server's start asked it once for each secret it compared.
func sha256(ofUTF8 text: some StringProtocol) -> SHA256.Digest {
    text.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        ?? SHA256.hash(data: Array(text.utf8))
}
