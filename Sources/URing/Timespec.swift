import CLiburing

extension __kernel_timespec {
    /// A ring timeout value of `nanoseconds` (what io_uring_prep_timeout reads).
    @inline(__always)
    public init(nanoseconds: UInt64) {
        self.init(tv_sec: Int64(nanoseconds / 1_000_000_000), tv_nsec: Int64(nanoseconds % 1_000_000_000))
    }
}
