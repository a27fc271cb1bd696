import CLiburing
import Glibc

/// The process-level calls the cluster makes, through the syscall choke point, so that no
/// layer above URing needs the C shim.
public enum ProcessControl {
    /// The signal this process gets when its parent dies (prctl PR_SET_PDEATHSIG).
    public static func setParentDeathSignal(_ signal: Int32) throws(SystemError) {
        try syscall("prctl(PR_SET_PDEATHSIG)") { CLiburing_set_parent_death_signal(signal) }
    }

    /// An anonymous, close-on-exec memory file (memfd_create), for memory shared with
    /// spawned processes by descriptor.
    public static func memoryFile(name: String) throws(SystemError) -> Int32 {
        try syscall("memfd_create") { CLiburing_memfd_create(name, CLiburing_MFD_CLOEXEC()) }
    }

    /// Sends `signal` to `pid`. ESRCH (already gone, not reaped yet) is not an error here.
    public static func signal(_ pid: pid_t, _ signal: Int32) {
        _ = try? syscall("kill") { Glibc.kill(pid, signal) }
    }

    /// Reaps one exited child without waiting: its pid and wait status, or nil.
    public static func reapChild() -> (pid: pid_t, status: Int32)? {
        var status: Int32 = 0
        guard let pid = try? syscall("waitpid", { waitpid(-1, &status, WNOHANG) }), pid > 0 else { return nil }
        return (pid, status)
    }

    /// Sets close-on-exec on an inherited descriptor (one systemd or a shell passed). A
    /// number that is not open is the caller's mistake, not this program's: it is thrown
    /// (EBADF), not treated as a bug like the choke point does.
    public static func setCloseOnExec(_ fd: Int32) throws(SystemError) {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0, fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 else {
            throw SystemError("fcntl(\(fd), F_SETFD)", Errno(rawValue: Glibc.errno))
        }
    }
}
