/// Size limits on what a client may send. Each has a `serve` flag; defaults follow nginx
/// and Node's http module where they agree.
public struct HTTPLimits: Sendable, Equatable {
    /// Bytes of header fields after the request line (431 beyond).
    public var maxHeaderBytes: Int = 16 * 1024
    /// Bytes of the request-target (414 beyond).
    public var maxTargetBytes: Int = 8 * 1024
    /// Number of header fields (431 beyond).
    public var maxHeaderCount: Int = 100
    /// Bytes of the (decoded) request body (413 beyond).
    public var maxBodyBytes: Int = 1024 * 1024
    /// Bytes of a body a handler takes in parts as it arrives (a streaming route's): held
    /// a part at a time, so only the length is bounded. Default 16 GiB.
    public var maxStreamedBodyBytes: Int = 16 << 30

    public init(maxHeaderBytes: Int = 16 * 1024, maxTargetBytes: Int = 8 * 1024,
                maxHeaderCount: Int = 100, maxBodyBytes: Int = 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxTargetBytes = maxTargetBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}
