import CLiburing
import Glibc

/// The process-level calls the cluster makes, through the syscall choke point, so that no
/// layer above URing needs the C shim.
public enum ProcessControl {
    /// The signal this process gets when its parent dies (prctl PR_SET_PDEATHSIG).
    /// Adds a chdir to a posix_spawn's file actions (glibc's addchdir_np): the child starts
    /// in `path`, or fails to start when it cannot enter it.
    public static func addWorkingDirectory(_ actions: inout posix_spawn_file_actions_t, _ path: String) throws(SystemError) {
        let rc = CLiburing_spawn_add_chdir(&actions, path)
        if rc != 0 { throw SystemError("posix_spawn_file_actions_addchdir_np(\(path))", Errno(rawValue: rc)) }
    }

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

    /// Raises the soft RLIMIT_NOFILE to the hard limit (as nginx's worker_rlimit_nofile and
    /// most servers do): the file tables of direct descriptors are cut to the soft limit.
    /// Best effort; inherited by the processes spawned after.
    public static func raiseDescriptorLimit() {
        var limit = rlimit()
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
    }

    /// A copy, in this process, of descriptor `number` of process `pid` (pidfd_open, then
    /// pidfd_getfd; kernel 5.6), close-on-exec. Needs ptrace access to `pid`: same user and
    /// dumpable, or CAP_SYS_PTRACE (EPERM otherwise; ENOSYS where seccomp forbids it).
    public static func takeDescriptor(of pid: pid_t, number: Int32) throws(SystemError) -> Int32 {
        let pidfd = try syscall("pidfd_open") { CLiburing_pidfd_open(pid) }
        defer { closeDescriptor(pidfd) }
        // Not through the choke point: EBADF here is the other process's number, not our bug.
        let fd = CLiburing_pidfd_getfd(pidfd, number)
        guard fd >= 0 else { throw SystemError("pidfd_getfd", Errno(rawValue: Glibc.errno)) }
        return fd
    }
}
