import URing

/// Something else that runs on a server's ring besides HTTP connections: a cluster worker's
/// channel to its primary, for one. Completions whose `UserData.kind` is at least
/// `LoopExtensionKinds.first` go to the extension; the HTTP loop never looks inside them.
/// It is called per completion of its own and once per loop turn, never per request.
public protocol LoopExtension: AnyObject {
    /// Called once when the loop starts, to submit the extension's first operations.
    func start(ring: Ring, server: any ConnectionAdopting)
    func complete(_ completion: Completion)
    /// When a turn begins, before its completions are handled (`now`: CLOCK_MONOTONIC, ns).
    func turnStarted(now: UInt64)
    /// After each turn's completions are handled: publish state, flush batched work.
    func turnEnded()
}

extension LoopExtension {
    public func turnStarted(now: UInt64) {}
}

public enum LoopExtensionKinds {
    /// Kinds 128...255 belong to the extension.
    public static let first: UInt8 = 128
}

/// What an extension may ask of the server it runs in.
public protocol ConnectionAdopting: AnyObject {
    /// Serves an already-connected socket: a process descriptor, or a slot of the ring's
    /// file table.
    func adopt(_ file: Descriptor)
    /// Serves connections accepted on a listening socket.
    func addListener(_ fd: Int32)
    var counters: ServerCounters { get }
    /// The loop's executor (where async handlers' tasks run).
    var executor: RingExecutor { get }
    /// Ends the loop after the current turn.
    func stop()
    /// Whether the readiness path answers 200 (when no ReadinessSource decides).
    var announcesReady: Bool { get set }
    /// Finishes what is in progress, accepts nothing new, then ends the loop. With
    /// `sweepingListeners`, what the listeners' queues hold is served first (they close
    /// for everyone); without, it is left to whoever else accepts on them.
    func drain(sweepingListeners: Bool)
}
