import Glibc

// libFuzzer target: the file server's pure gates (built by `make fuzz` with the HTTP1 and
// StaticFiles/RequestPath, FilePlan sources, outside the package).
//
// The first input byte picks the gate; the rest is what a client controls:
// - RequestPath: an accepted path is relative, has no empty, `.` or `..` segment and no
//   NUL, backslash or `%` (so nothing left to decode a second time), and no hidden name;
// - FilePlan: for a Range (and If-Range) value and a size taken from the input, a partial
//   answer lies inside the file, and the same input gives the same plan twice.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFiles(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 0 {
        let result = rest.withUnsafeBytes { RequestPath.relative($0) }
        if case .success(let r)? = result, !r.path.isEmpty {
            check(r.path.first != UInt8(ascii: "/"), "an absolute path")
            check(!r.path.contains(0) && !r.path.contains(UInt8(ascii: "\\")) && !r.path.contains(UInt8(ascii: "%")),
                  "a NUL, backslash or percent left")
            for segment in r.path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                check(!segment.isEmpty && segment.first != UInt8(ascii: "."), "an empty, dot or hidden segment")
            }
        }
    } else {
        let fileSize = rest.count >= 2 ? Int(rest[0]) << 8 | Int(rest[1]) : 0
        let value = Array(rest.dropFirst(2))
        let half = value.count / 2
        let etag = Array("\"1-2-3\"".utf8)
        func plan() -> FilePlan {
            FilePlan.decide(isGet: data[0] & 2 == 0, ifNoneMatch: data[0] & 4 == 0 ? nil : Array(value[..<half]),
                            ifModifiedSince: data[0] & 8 == 0 ? nil : Array(value[..<half]),
                            range: Array(value[half...]), ifRange: data[0] & 16 == 0 ? nil : Array(value[..<half]),
                            size: fileSize, etag: etag, modifiedSeconds: 784_111_777)
        }
        let p = plan()
        check(p == plan(), "the plan is not a function of its input")
        if case .partial(let start, let count) = p {
            check(start >= 0 && count > 0 && start + count <= fileSize, "a range outside the file")
        }
    }
    return 0
}

func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok {
        print("invariant broken: \(what())")
        abort()
    }
}
