/// How round-robin mode's primary hands a connection to a worker.
public enum HandoffPath: String, CaseIterable, Sendable {
    /// The ring where this kernel and these privileges allow it, else a message.
    case auto
    /// IORING_OP_MSG_RING: the primary accepts into its ring's file table and installs each
    /// connection straight into the chosen worker's, reached through pidfd_getfd of the
    /// worker's ring descriptor. No system call in the worker, none per connection in the
    /// primary beyond its turn's one. Refused at start where it cannot work.
    case ring
    /// SCM_RIGHTS over the worker's channel (sendmsg, then recvmsg in the worker), batched
    /// per turn. Works everywhere; `ip-hash` always uses it (it reads the peer's address
    /// with getpeername, which needs a process descriptor).
    case message
}
