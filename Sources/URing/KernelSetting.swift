import Glibc

/// A number the kernel publishes under /proc/sys (a sysctl), read at start-up to explain
/// or decide something: nil when the file is absent or holds no number.
public enum KernelSetting {
    public static func number(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { return nil }
        return Int(String(decoding: bytes[..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
    }
}
