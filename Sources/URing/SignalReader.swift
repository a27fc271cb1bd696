import CLiburing
import Glibc

/// Signals read on a ring, for the primary and the workers alike: the signals are blocked
/// for normal delivery and arrive as reads of a signalfd, so a handler never runs inside
/// the loop's code and a signal is just one more completion of the turn.
///
/// The loop need not be the process's only thread. Under an async `main` (a ServiceGroup)
/// the cooperative pool's threads, and the main thread, existed before the loop's and do
/// not block these signals. A process-directed signal goes to a thread that does not block
/// it, and there SIGCHLD's default is to drop it and SIGHUP's is to end the process: the
/// signalfd would never see it. So each signal also gets a handler that, on whatever thread
/// catches it, blocks it on that thread for good (in the context the handler returns to)
/// and sends it to the process again. Each thread catches a signal at most once; after
/// that it stays pending for the process until the loop's signalfd reads it. libdispatch
/// does the same on Linux for its signal sources, re-sending to its manager thread.
/// A handler is reset to the default by exec, so spawned workers do not inherit it.
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
        for s in signals { Self.redirectToProcess(s) }
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

    /// Installs the handler that hands `signal`, caught on a thread other than the loop's,
    /// back to the process (see the type's comment).
    static func redirectToProcess(_ signal: Int32) {
        var action = sigaction()
        action.sa_flags = SA_SIGINFO | SA_RESTART
        sigemptyset(&action.sa_mask)
        action.__sigaction_handler.sa_sigaction = { signal, _, context in
            // Only async-signal-safe calls here: bit operations, getpid, kill.
            let saved = errno
            if let context {
                // The mask restored when the handler returns: the signal stays blocked here.
                sigaddset(&context.assumingMemoryBound(to: ucontext_t.self).pointee.uc_sigmask, signal)
            }
            kill(getpid(), signal)
            errno = saved
        }
        sigaction(signal, &action, nil)
    }

    /// Whether one of `signals` is pending for this process or thread: sent, and not read
    /// yet (its read may complete later in this turn, or in the next).
    public static func isPending(_ signals: [Int32]) -> Bool {
        var pending = sigset_t()
        sigpending(&pending)
        return signals.contains { sigismember(&pending, $0) == 1 }
    }
}
