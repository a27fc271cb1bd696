import Glibc
import URing

/// The graceful stop of a server that runs alone (`serve --workers 0`, or a library user's
/// single loop), on SIGTERM or SIGINT or when `stop()` is called on the loop: the same stop a
/// cluster's primary makes, in one process.
/// 0. With a drain delay: readiness turns 503 at once (`HTTPServer.announcesReady`) and
///    serving goes on for that long, for a load balancer's check to take the server out;
///    a second signal ends the delay.
/// 1. New SYNs are dropped on the listeners this process created (Socket.refuseNewConnections),
///    so new clients are refused at connect time, never reset after a handshake.
/// 2. For `graceNanoseconds` the listeners go on accepting what is queued or mid-handshake.
/// 3. Then the server drains: its queues are swept, what is in flight is answered with
///    `Connection: close`, and `run()` returns.
public final class GracefulStop: LoopExtension {
    enum Operation: UInt8 {
        case signal = 128
        case grace = 129
        case drainDelay = 130
    }

    /// Nil when a host owns the stop signals (a ServiceGroup) and calls `stop()` itself.
    let signals: SignalReader?
    let refusing: [Int32]
    let graceNanoseconds: UInt64
    let drainDelayNanoseconds: UInt64
    var delaying = false
    var ring: Ring!
    weak var server: (any ConnectionAdopting)?
    var stopping = false

    /// - Parameters:
    ///   - refusing: the listeners to filter at the stop: those this process created. A
    ///     socket systemd or a parent passed outlives the process: leave it out.
    ///   - signals: read on the ring as a stop; [] when a host owns them.
    public init(refusing listeners: [Int32], graceNanoseconds: UInt64 = 200_000_000, drainDelayNanoseconds: UInt64 = 0,
                signals: [Int32] = [SIGTERM, SIGINT]) throws(SystemError) {
        self.signals = signals.isEmpty ? nil : try SignalReader(signals)
        refusing = listeners
        self.graceNanoseconds = graceNanoseconds
        self.drainDelayNanoseconds = drainDelayNanoseconds
    }

    public func start(ring: Ring, server: any ConnectionAdopting) {
        self.ring = ring
        self.server = server
        signals?.arm(ring, userData: UserData(kind: Operation.signal.rawValue))
        if stopping { beginStop() }
    }

    public func complete(_ c: Completion) {
        switch Operation(rawValue: c.userData.kind) {
        case .signal:
            if signals?.signal(in: c) != nil {
                if delaying {
                    delaying = false  // a second signal: no more waiting
                    beginStop()
                } else if !stopping && drainDelayNanoseconds > 0 {
                    stopping = true
                    delaying = true
                    server?.announcesReady = false
                    ring.timeout(nanoseconds: drainDelayNanoseconds, userData: UserData(kind: Operation.drainDelay.rawValue))
                } else {
                    stop()
                }
            }
            signals?.arm(ring, userData: UserData(kind: Operation.signal.rawValue))
        case .drainDelay:
            if delaying {
                delaying = false
                beginStop()
            }
        case .grace:
            server?.drain(sweepingListeners: true)
        case nil:
            break
        }
    }

    /// Starts the stop, on the loop's thread; before the loop starts, it begins when the loop
    /// does. Again: nothing.
    public func stop() {
        guard !stopping else { return }
        stopping = true
        if ring != nil { beginStop() }
    }

    func beginStop() {
        server?.announcesReady = false
        for fd in refusing {
            do throws(SystemError) {
                try Socket.refuseNewConnections(fd)
            } catch {
                printError("uring-cluster: could not stop new connections on a listener: \(error)")
            }
        }
        ring.timeout(nanoseconds: graceNanoseconds, userData: UserData(kind: Operation.grace.rawValue))
    }

    public func turnEnded() {}
}
