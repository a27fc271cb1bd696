import Glibc

/// CLOCK_MONOTONIC in nanoseconds: deadlines and durations never follow wall-clock jumps.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Wall-clock seconds since the epoch, for the HTTP Date header.
@inline(__always)
public func wallClockSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return ts.tv_sec
}
