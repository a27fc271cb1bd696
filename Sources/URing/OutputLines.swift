import Glibc

/// Writes one line to standard output with a single write(2), unbuffered: a parent reading
/// a pipe (a test, the benchmark harness) sees the line at once.
public func printLine(_ message: String) {
    var line = message
    line.append("\n")
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

/// Writes one line to standard error with a single write(2): lines from several processes
/// of a cluster do not interleave mid-line, and no C `FILE*` global is touched (Swift 6
/// rejects `stderr` as shared mutable state).
public func printError(_ message: String) {
    var line = message
    line.append("\n")
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
