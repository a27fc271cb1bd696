import FoundationEssentials
import Glibc
import URing

// The messages between a primary and one worker, one per SOCK_SEQPACKET packet (message
// boundaries are kept by the socket, so there is no length prefix). Byte 0 is the type;
// integers are little-endian. Descriptors travel beside a message as SCM_RIGHTS.
//
//   worker → primary                     primary → worker
//   0x01 online                          0x81 listenReply  u16 port, i32 errno   (+ listener fd
//   0x02 listen   u16 port, host bytes                                            in shared and
//   0x03 listening u16 port, i32 ring                                             reuseport modes)
//   0x05 refused u64 position, u32 count 0x82 handoff u32 count      (+ count connection fds)
//   0x06 leaving (the worker was sent SIGTERM or SIGINT: the primary replaces it gracefully,
//        or ignores it while the whole cluster is stopping)
//        (descriptors the worker could not take: its RLIMIT_NOFILE; `position` counts every
//        descriptor handed to this worker before them)
//
// `ring` is the worker's ring descriptor number (-1: none), which a primary handing over
// through the ring takes with pidfd_getfd; those hand-offs then need no message at all.
// Hand-offs are acknowledged without a message: the worker publishes in the shared board how
// many hand-off positions it has dealt with, and the primary closes its copies up to there.
//                                        0x83 drain  u8 sweep (finish what is in progress, then
//                                             exit; sweep 1: first serve what the listeners'
//                                             queues hold, at a cluster stop)
//   0x10 user  payload bytes             0x90 user payload bytes
//   0x11 request u64 id, u16 name length, 0x91 reply u64 id, u8 outcome, payload bytes
//        name bytes, payload bytes            (outcome 0: the reply; 1: no handler for the
//                                             name; 2: the handler failed, payload its text)

public enum ClusterMessage: Equatable, Sendable {
    case online
    case listen(host: String, port: UInt16)
    case listening(port: UInt16, ring: Int32)
    case refused(position: UInt64, count: UInt32)
    case leaving
    case listenReply(port: UInt16, errno: Int32)
    case handoff(count: UInt32)
    /// `sweep`: the listeners close for everyone (a cluster stop), so the worker serves what
    /// their queues hold before it leaves; otherwise other workers serve those.
    case drain(sweep: Bool)
    case userFromWorker([UInt8])
    case userFromPrimary([UInt8])
    /// A worker asks the primary something and awaits the `reply` with the same id.
    /// `name` says which handler answers (the request type's name).
    case request(id: UInt64, name: String, payload: [UInt8])
    case reply(id: UInt64, outcome: ReplyOutcome, payload: [UInt8])

    public enum ReplyOutcome: UInt8, Sendable {
        case answered = 0
        case noHandler = 1
        case failed = 2
    }

    /// Largest message, user payloads included (well inside a socketpair's buffer).
    public static let maxSize = 64 * 1024
    /// Largest user payload: a message less its type byte.
    public static let maxUserPayload = maxSize - 1

    /// A user message's JSON payload.
    static func json<T: Encodable>(_ value: T) throws(SystemError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw SystemError("send(\(T.self) could not be encoded as JSON: \(error))", Errno(rawValue: EINVAL))
        }
    }

    /// A user message's payload as JSON of `T`; nil when it is not (a message for another
    /// handler).
    static func decodeJSON<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// The clear error for a user message that cannot travel in one packet.
    static func checkUserPayload(_ count: Int) throws(SystemError) {
        guard count <= maxUserPayload else {
            throw SystemError("send(a \(count)-byte message; at most \(maxUserPayload) bytes)", Errno(rawValue: EMSGSIZE))
        }
    }

    enum Tag: UInt8 {
        case online = 0x01, listen = 0x02, listening = 0x03, refused = 0x05, leaving = 0x06, userFromWorker = 0x10
        case request = 0x11
        case listenReply = 0x81, handoff = 0x82, drain = 0x83, userFromPrimary = 0x90, reply = 0x91
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: UInt16) { out += [UInt8(v & 0xff), UInt8(v >> 8)] }
        func u32(_ v: UInt32) { for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(k)))) } }
        func u64(_ v: UInt64) { u32(UInt32(truncatingIfNeeded: v)); u32(UInt32(truncatingIfNeeded: v >> 32)) }
        switch self {
        case .online: out.append(Tag.online.rawValue)
        case .listen(let host, let port): out.append(Tag.listen.rawValue); u16(port); out += Array(host.utf8)
        case .listening(let port, let ring): out.append(Tag.listening.rawValue); u16(port); u32(UInt32(bitPattern: ring))
        case .refused(let position, let n):
            out.append(Tag.refused.rawValue)
            u32(UInt32(truncatingIfNeeded: position))
            u32(UInt32(truncatingIfNeeded: position >> 32))
            u32(n)
        case .listenReply(let port, let errno): out.append(Tag.listenReply.rawValue); u16(port); u32(UInt32(bitPattern: errno))
        case .handoff(let n): out.append(Tag.handoff.rawValue); u32(n)
        case .drain(let sweep): out += [Tag.drain.rawValue, sweep ? 1 : 0]
        case .leaving: out.append(Tag.leaving.rawValue)
        case .userFromWorker(let b): out.append(Tag.userFromWorker.rawValue); out += b
        case .userFromPrimary(let b): out.append(Tag.userFromPrimary.rawValue); out += b
        case .request(let id, let name, let payload):
            out.append(Tag.request.rawValue)
            u64(id)
            let n = Array(name.utf8.prefix(Int(UInt16.max)))
            u16(UInt16(n.count))
            out += n
            out += payload
        case .reply(let id, let outcome, let payload):
            out.append(Tag.reply.rawValue)
            u64(id)
            out.append(outcome.rawValue)
            out += payload
        }
        return out
    }

    /// Decodes one packet; nil for an unknown type or a truncated body.
    public static func decode(_ b: UnsafeRawBufferPointer) -> ClusterMessage? {
        guard let first = b.first, let tag = Tag(rawValue: first) else { return nil }
        func u16(_ at: Int) -> UInt16? { at + 2 <= b.count ? UInt16(b[at]) | UInt16(b[at + 1]) << 8 : nil }
        func u32(_ at: Int) -> UInt32? {
            guard at + 4 <= b.count else { return nil }
            return (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
        }
        switch tag {
        case .online: return .online
        case .listen:
            guard let port = u16(1) else { return nil }
            return .listen(host: String(decoding: b[3...], as: UTF8.self), port: port)
        case .listening:
            guard let port = u16(1), let ring = u32(3) else { return nil }
            return .listening(port: port, ring: Int32(bitPattern: ring))
        case .refused:
            guard let low = u32(1), let high = u32(5), let n = u32(9) else { return nil }
            return .refused(position: UInt64(high) << 32 | UInt64(low), count: n)
        case .listenReply:
            guard let port = u16(1), let e = u32(3) else { return nil }
            return .listenReply(port: port, errno: Int32(bitPattern: e))
        case .handoff: return u32(1).map { .handoff(count: $0) }
        case .drain: return b.count >= 2 ? .drain(sweep: b[1] != 0) : nil
        case .leaving: return .leaving
        case .userFromWorker: return .userFromWorker(Array(b[1...]))
        case .userFromPrimary: return .userFromPrimary(Array(b[1...]))
        case .request:
            guard let low = u32(1), let high = u32(5), let n = u16(9), 11 + Int(n) <= b.count else { return nil }
            return .request(id: UInt64(high) << 32 | UInt64(low), name: String(decoding: b[11..<(11 + Int(n))], as: UTF8.self),
                            payload: Array(b[(11 + Int(n))...]))
        case .reply:
            guard let low = u32(1), let high = u32(5), b.count >= 10, let outcome = ReplyOutcome(rawValue: b[9]) else { return nil }
            return .reply(id: UInt64(high) << 32 | UInt64(low), outcome: outcome, payload: Array(b[10...]))
        }
    }

    /// The hot-path messages, written without allocating.
    static func writeHandoff(count: UInt32, into p: UnsafeMutableRawPointer) -> Int {
        p.storeBytes(of: Tag.handoff.rawValue, as: UInt8.self)
        p.storeBytes(of: count.littleEndian, toByteOffset: 1, as: UInt32.self)
        return 5
    }

}
