#if !FUZZING
import HTTP1
#endif

/// A request's path turned into a path relative to the served root, or refused: the pure
/// first gate of the file server, tested and fuzzed without files.
///
/// The kernel's RESOLVE_BENEATH (FileOperations.open) is what holds against every escape,
/// symlinks included; this gate refuses, before any system call, what no file of ours can
/// be named by, so each trick gets a plain 400 and never reaches the filesystem:
/// - anything but origin-form (`/…`): an absolute-form target (`http://host/…`), `*`;
/// - a malformed percent escape, or one that decodes to `/` or `\` (an encoded separator
///   names no file here, as in nginx's default merge of slashes it would be ambiguous);
/// - a `%` after decoding (double encoding: `%252e` is refused, not read as `%2e`);
/// - NUL, other control bytes and DEL, decoded or not;
/// - a backslash;
/// - an empty segment (`//`), `.` or `..` anywhere.
/// A segment that starts with `.` (`.git`, `.env`) is hidden: not found, as
/// serve-static's default treats dotfiles.
public enum RequestPath {
    public enum Refusal: Error, Equatable, Sendable {
        /// 400: the path cannot name a file (the reason is for tests and logs).
        case malformed(String)
        /// 404: a hidden name.
        case hidden
    }

    /// The decoded path below `prefix`, without its leading slash ("" for the root
    /// itself), and whether the request ended with a slash. `prefix` is a decoded,
    /// slash-started path such as "/" or "/static"; a path not under it is nil.
    public static func relative(_ raw: UnsafeRawBufferPointer, under prefix: [UInt8] = [UInt8(ascii: "/")])
        -> Result<(path: [UInt8], trailingSlash: Bool), Refusal>? {
        guard raw.first == UInt8(ascii: "/") else { return .failure(.malformed("not origin-form")) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            var byte = raw[i]
            if byte == UInt8(ascii: "%") {
                guard i + 2 < raw.count, let high = HexDigit.value(raw[i + 1]), let low = HexDigit.value(raw[i + 2]) else {
                    return .failure(.malformed("bad percent escape"))
                }
                byte = UInt8(high << 4 | low)
                switch byte {
                case UInt8(ascii: "/"): return .failure(.malformed("encoded slash"))
                case UInt8(ascii: "%"): return .failure(.malformed("double encoding"))
                default: break
                }
                i += 2
            }
            if byte < 0x20 || byte == 0x7f { return .failure(.malformed("control byte")) }
            if byte == UInt8(ascii: "\\") { return .failure(.malformed("backslash")) }
            decoded.append(byte)
            i += 1
        }
        // Under the prefix: equal to it, or it followed by a slash.
        let base = prefix.last == UInt8(ascii: "/") ? Array(prefix.dropLast()) : prefix
        guard decoded.starts(with: base) else { return nil }
        var rest = decoded[base.count...]
        if !rest.isEmpty && rest.first != UInt8(ascii: "/") { return nil }
        let trailingSlash = decoded.last == UInt8(ascii: "/")
        if rest.first == UInt8(ascii: "/") { rest = rest.dropFirst() }
        if rest.last == UInt8(ascii: "/") { rest = rest.dropLast() }
        var hidden = false
        if !rest.isEmpty {
            for segment in rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                if segment.isEmpty { return .failure(.malformed("empty segment")) }
                if segment.elementsEqual([UInt8(ascii: ".")]) || segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                    return .failure(.malformed("dot segment"))
                }
                if segment.first == UInt8(ascii: ".") { hidden = true }
            }
        }
        if hidden { return .failure(.hidden) }
        return .success((Array(rest), trailingSlash))
    }
}
