import CLiburing
import Glibc

/// Whether this process can hand connections to another process's ring: a file table,
/// IORING_MSG_SEND_FD (kernel 6.0), pidfd_getfd (5.6; seccomp profiles such as Docker's
/// default refuse it without CAP_SYS_PTRACE) and ACCEPT_DONTWAIT (6.10: a drain's sweep
/// must accept into the file table too). Checked once, between two throwaway rings of this
/// process, the second reached through a pidfd_getfd copy of its descriptor, as a
/// primary reaches a worker's. Ptrace rules for another process (Yama's scope) are not
/// covered: a worker the primary cannot reach is reported when it starts.
public enum DescriptorPassingProbe {
    /// nil when everything works, else what failed.
    public static func check() -> SystemError? {
        do throws(SystemError) {
            let sender = try Ring(entries: 4)
            let target = try Ring(entries: 4)
            guard sender.registerFileTable(count: 2), target.registerFileTable(count: 2) else {
                return SystemError("io_uring_register_files_sparse", .invalidArgument)
            }
            var pipe = (Int32(-1), Int32(-1))
            try withUnsafeMutableBytes(of: &pipe) { p throws(SystemError) in
                _ = try syscall("pipe") { Glibc.pipe(p.baseAddress!.assumingMemoryBound(to: Int32.self)) }
            }
            defer { closeDescriptor(pipe.0); closeDescriptor(pipe.1) }
            var fd = pipe.0
            try uringCall("io_uring_register_files_update") { io_uring_register_files_update(sender.pointer, 0, &fd, 1) }
            let reach = try ProcessControl.takeDescriptor(of: getpid(), number: target.descriptor)
            defer { closeDescriptor(reach) }
            sender.sendDescriptor(0, toRing: reach, targetUserData: UserData(kind: 2), userData: UserData(kind: 1))
            var sent: Int32? = nil
            for _ in 0..<10 where sent == nil {
                try sender.submitAndWait(1)
                sender.drainCompletions { sent = $0.result }
            }
            guard let sent else { return SystemError("IORING_OP_MSG_RING", .timedOut) }
            if sent < 0 { return SystemError("IORING_OP_MSG_RING(IORING_MSG_SEND_FD)", Errno(negatedResult: sent)) }
            var installed: Int32? = nil
            try target.submitAndWait(1)
            target.drainCompletions { installed = $0.result }
            guard let installed, installed >= 0 else {
                return SystemError("IORING_OP_MSG_RING(target)", Errno(negatedResult: installed ?? -EIO))
            }
            guard Acceptor.dontWaitSupported else { return SystemError("IORING_ACCEPT_DONTWAIT", .invalidArgument) }
            return nil
        } catch {
            return error
        }
    }
}
