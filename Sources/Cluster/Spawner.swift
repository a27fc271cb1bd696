import Glibc
import URing

/// Starts a worker by executing this program again (posix_spawn of /proc/self/exe with the
/// same arguments), never by fork() of a running Swift process: the runtime's threads and
/// locks do not survive a fork, an exec starts clean. `setupPrimary` may name another
/// program, other arguments, more environment and a working directory.
///
/// The child gets its channel end as descriptor 3 and the load board as descriptor 4, and
/// learns its role from the environment (`WorkerEnvironment`). Its signal mask and the
/// dispositions of the signals the primary handles are reset, so SIGTERM and SIGINT kill a
/// worker the usual way even though the primary blocks them for its signalfd.
enum Spawner {
    static let channelFD: Int32 = 3
    static let boardFD: Int32 = 4

    static func spawnWorker(slot: Int, channel: Int32, board: Int32, settings: PrimarySettings,
                            extraEnvironment: [String: String]) throws(SystemError) -> pid_t {
        // posix_spawn's dup2 onto the same number would keep FD_CLOEXEC: move the sources
        // above the target numbers first.
        let channelHigh = try syscall("fcntl(F_DUPFD_CLOEXEC)") { fcntl(channel, F_DUPFD_CLOEXEC, 10) }
        defer { closeDescriptor(channelHigh) }
        let boardHigh = try syscall("fcntl(F_DUPFD_CLOEXEC)") { fcntl(board, F_DUPFD_CLOEXEC, 10) }
        defer { closeDescriptor(boardHigh) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, channelHigh, channelFD)
        posix_spawn_file_actions_adddup2(&actions, boardHigh, boardFD)
        if let directory = settings.workingDirectory {
            try ProcessControl.addWorkingDirectory(&actions, directory)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var environment = ProcessEnvironment.current()
        for (k, v) in settings.environment { environment[k] = v }
        for (k, v) in extraEnvironment { environment[k] = v }
        environment[WorkerEnvironment.slot] = String(slot)
        environment[WorkerEnvironment.channel] = String(channelFD)
        environment[WorkerEnvironment.board] = String(boardFD)
        environment[WorkerEnvironment.primaryPID] = String(getpid())
        let envStrings = environment.map { "\($0.key)=\($0.value)" }

        let arguments = settings.arguments ?? CommandLine.arguments
        let program = settings.executable ?? "/proc/self/exe"
        var pid: pid_t = 0
        let rc = withCStrings(arguments) { argv in
            withCStrings(envStrings) { envp in
                posix_spawn(&pid, program, &actions, &attributes, argv, envp)
            }
        }
        if rc != 0 { throw SystemError("posix_spawn(\(program))", Errno(rawValue: rc)) }
        return pid
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
