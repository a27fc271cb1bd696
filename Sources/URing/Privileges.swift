import CLiburing
import Glibc

/// The user and group a server runs as after it starts as root (`--user`, `--group`).
public struct Account: Sendable, Equatable {
    public let user: String
    public let uid: uid_t
    public let gid: gid_t

    /// `user` (a name or a number) and `group` (likewise), or the user's own group; nil
    /// when either is unknown to this machine (passwd and group, through NSS).
    public static func lookUp(user: String, group: String?) -> Result<Account, AccountError> {
        guard let entry = getpwnam(user) ?? UInt32(user).flatMap({ getpwuid($0) }) else {
            return .failure(AccountError("--user \(user): no such user on this machine; create it (adduser --system) or name another"))
        }
        let uid = entry.pointee.pw_uid
        var gid = entry.pointee.pw_gid
        if let group {
            guard let g = getgrnam(group) ?? UInt32(group).flatMap({ getgrgid($0) }) else {
                return .failure(AccountError("--group \(group): no such group on this machine; create it (addgroup --system) or name another"))
            }
            gid = g.pointee.gr_gid
        }
        return .success(Account(user: user, uid: uid, gid: gid))
    }
}

public struct AccountError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Giving up root for good, as nginx's workers and gunicorn's `--user` do.
public enum Privileges {
    /// The capabilities a process may keep (`drop(to:keeping:)`).
    public struct Capabilities: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// Binding a port below net.ipv4.ip_unprivileged_port_start.
        public static let bindService = Capabilities(rawValue: 1 << UInt64(CLiburing_CAP_NET_BIND_SERVICE()))
        /// SO_ATTACH_FILTER: the SYN filter of a graceful stop (Socket.refuseNewConnections).
        /// Checked on Linux 6.18 here: an unprivileged process gets EPERM for any classic
        /// filter, and CAP_NET_ADMIN alone (not CAP_BPF, not CAP_SYS_ADMIN) lets it attach.
        public static let networkAdministration = Capabilities(rawValue: 1 << UInt64(CLiburing_CAP_NET_ADMIN()))
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// Whether this process already runs as `account` (a worker its dropped primary started).
    public static func runsAs(_ account: Account) -> Bool {
        getuid() == account.uid && geteuid() == account.uid && getgid() == account.gid && getegid() == account.gid
    }

    /// Leaves no capability but those of `keeping` (those not held are not gained): for a
    /// process that already runs as its account. Clearing the inheritable set clears the
    /// ambient one too. Best effort: failing to narrow is not worse than not narrowing.
    public static func limitCapabilities(to keeping: Capabilities) {
        if CLiburing_capabilities_only(keeping.rawValue) != 0 { _ = CLiburing_capabilities_only(0) }
    }

    /// Becomes `account`: the supplementary groups are only its group, then the group and
    /// the user are set (real, effective and saved: there is no way back). `keeping`: the
    /// capabilities that stay (a primary that still binds and filters listeners); none by
    /// default. Not inherited across exec: a worker the primary starts has none. Checked
    /// afterwards: a drop that did not happen is an error, never a silent root server.
    public static func drop(to account: Account, keeping: Capabilities = []) throws(SystemError) {
        var groups = [account.gid]
        _ = try syscall("setgroups") { setgroups(1, &groups) }
        if !keeping.isEmpty { _ = try syscall("prctl(PR_SET_KEEPCAPS)") { CLiburing_keep_capabilities(1) } }
        _ = try syscall("setgid") { setgid(account.gid) }
        _ = try syscall("setuid") { setuid(account.uid) }
        if !keeping.isEmpty {
            _ = try syscall("capset") { CLiburing_capabilities_only(keeping.rawValue) }
            _ = try syscall("prctl(PR_SET_KEEPCAPS)") { CLiburing_keep_capabilities(0) }
        }
        guard runsAs(account), setuid(0) != 0 || account.uid == 0 else {
            throw SystemError("dropping privileges to \(account.user) did not hold", .notPermitted)
        }
    }
}
