import Foundation

/// Reading a whole file the way the server reads its migrations and `.env` files, and asking what a
/// path names.
enum RegularFile {
    /// The whole file at `path` (links followed), read to its end; nil when it cannot be opened or
    /// read, or is not a regular file (a folder, a pipe or a device, which could block the read or
    /// never end it: opened without blocking, and not read). One `open`, `fstat` and `read` for a
    /// migration's file, where `FileManager` spent several calls and a path conversion on each.
    static func contents(of path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        // The size is a hint: a file written to while it is read is read to wherever its end is then.
        var data = Data(count: max(Int(info.st_size), 0) + 1)
        var count = 0
        while true {
            if count == data.count { data.count += max(data.count, 4096) }
            let got = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if got > 0 {
                count += got
            } else if got == 0 {
                break
            } else if errno != EINTR {
                return nil
            }
        }
        data.count = count
        return data
    }

    /// The file type bits of what `path` names (links followed), or nil when nothing is there.
    static func kind(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    /// The bytes as text when they are UTF-8; nil otherwise. On the bytes in place: `Data`'s
    /// element-wise iteration is many times slower.
    static func utf8(_ data: Data) -> String? {
        data.withUnsafeBytes { String(validating: $0.assumingMemoryBound(to: UInt8.self), as: UTF8.self) }
    }
}
