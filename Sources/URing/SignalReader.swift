import CLiburing
import Glibc

/// Signals read on a ring, for the primary and the workers alike: the signals are blocked
/// for normal delivery and arrive as reads of a signalfd, so a handler never runs inside
/// the loop's code and a signal is just one more completion of the turn.
public final class SignalReader {
    public let descriptor: Int32
    let info: UnsafeMutablePointer<signalfd_siginfo>
    /// The signals this reader takes.
    public let signals: [Int32]

    /// Blocks `signals` on the calling thread (the loop's) and opens a signalfd for them.
    /// Processes spawned later get a clean mask (posix_spawn's attributes, see Spawner).
    public init(_ signals: [Int32]) throws(SystemError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        descriptor = try syscall("signalfd") { signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK)) }
        info = .allocate(capacity: 1)
        self.signals = signals
    }

    deinit {
        closeDescriptor(descriptor)
        info.deallocate()
    }

    /// Submits the next read; its completion carries `userData`.
    public func arm(_ ring: Ring, userData: UserData) {
        ring.read(descriptor, into: info, count: MemoryLayout<signalfd_siginfo>.size, userData: userData)
    }

    /// The signal a read's completion delivered, or nil (an interrupted or empty read).
    public func signal(in completion: Completion) -> Int32? {
        guard completion.result == Int32(MemoryLayout<signalfd_siginfo>.size) else { return nil }
        return Int32(bitPattern: info.pointee.ssi_signo)
    }

    /// Whether one of `signals` is pending for this process or thread: sent, and not read
    /// yet (its read may complete later in this turn, or in the next).
    public static func isPending(_ signals: [Int32]) -> Bool {
        var pending = sigset_t()
        sigpending(&pending)
        return signals.contains { sigismember(&pending, $0) == 1 }
    }
}
