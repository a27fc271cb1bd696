import Glibc
import URing

/// Failures at start, said so that a person can act on them: one line naming the cause
/// and the fix, then a non-zero exit (nginx's and gunicorn's manner), never a usage text
/// or a stack trace.
enum StartFailure {
    /// The oldest kernel the server runs on, and why: the features it cannot do without.
    static let minimumKernel = (major: 6, minor: 0)
    static let minimumKernelNeeds = "multishot receive (6.0), multishot accept and provided-buffer rings (5.19)"

    /// Checks, before any process is started, that the kernel is new enough. Whether
    /// io_uring can be set up needs no check of its own: the primary's ring (made at the
    /// first fork, before any worker) or the lone server's is the first, and its failure
    /// reaches `explain`.
    static func preflight() throws(StartError) {
        if let release = kernelRelease(), let (major, minor) = parseRelease(release),
           (major, minor) < minimumKernel {
            throw StartError("Linux \(release) is older than \(minimumKernel.major).\(minimumKernel.minor), which this server needs for \(minimumKernelNeeds); run it on a newer kernel")
        }
    }

    /// The line for a failure a system call reported. `port` is the one asked for, for the
    /// advice on low ports.
    static func explain(_ error: SystemError, port: Int?) -> String {
        let code = error.errno.rawValue
        if error.function.hasPrefix("io_uring") && (code == EPERM || code == ENOSYS || code == EACCES) {
            return "io_uring is unavailable: \(ringRefusal(code)) (\(error))"
        }
        if error.function.hasPrefix("io_uring") && code == ENOMEM {
            return "io_uring could not lock memory for its rings (\(error)); raise the locked-memory limit (ulimit -l, RLIMIT_MEMLOCK)"
        }
        guard error.function.hasPrefix("listen on") else { return "\(error)" }
        switch code {
        case EADDRINUSE:
            return "\(error.function): the port is already in use; stop the server that holds it, or choose another --port"
        case EACCES, EPERM:
            let first = unprivilegedPortStart()
            if let port, port < first {
                return "\(error.function): permission denied: ports below \(first) need root or CAP_NET_BIND_SERVICE; choose --port \(first) or above, or start as root"
            }
            return "\(error.function): permission denied (\(error.errno)); the address may be refused by a security policy"
        case EADDRNOTAVAIL:
            return "\(error.function): no interface of this machine has that address; use one of its addresses, 0.0.0.0 or ::"
        case EAFNOSUPPORT:
            return "\(error.function): this machine has no support for that address family (IPv6 turned off?); use an IPv4 --host"
        default:
            return "\(error)"
        }
    }

    /// Why io_uring_setup was refused, from what the kernel lets us see.
    static func ringRefusal(_ code: Int32) -> String {
        switch KernelSetting.number("/proc/sys/kernel/io_uring_disabled") {
        case 2:
            return "it is disabled on this machine (kernel.io_uring_disabled = 2); set it to 0 with sysctl"
        case 1 where code == EPERM:
            return "this machine allows it only to root and to the group in kernel.io_uring_group (kernel.io_uring_disabled = 1); run in that group, or set kernel.io_uring_disabled to 0"
        default:
            if code == ENOSYS {
                return "this kernel has no io_uring, or a seccomp filter (a container's default profile) answers ENOSYS for it; allow io_uring_setup, io_uring_enter and io_uring_register"
            }
            return "a seccomp filter (a container's default profile) refuses io_uring_setup; run with a profile that allows io_uring_setup, io_uring_enter and io_uring_register"
        }
    }

    static func kernelRelease() -> String? {
        var names = utsname()
        guard uname(&names) == 0 else { return nil }
        return withUnsafeBytes(of: &names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// "6.18.0-1-amd64" → (6, 18); nil when it does not start with two numbers.
    static func parseRelease(_ release: String) -> (Int, Int)? {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2, release.first?.isNumber == true else { return nil }
        return (parts[0], parts[1])
    }

    /// The first port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start).
    static func unprivilegedPortStart() -> Int {
        KernelSetting.number("/proc/sys/net/ipv4/ip_unprivileged_port_start") ?? 1024
    }
}

/// A failure at start, already worded for the person who started the server.
struct StartError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
