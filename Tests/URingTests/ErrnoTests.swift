import Glibc
import Testing
@testable import URing

@Suite("Errno")
struct ErrnoTests {
    static func cText(_ code: Int32) -> String { String(cString: strerror(code)) }

    @Test(arguments: [ENOENT, EINTR, EAGAIN, ETIME, ECONNRESET, EADDRINUSE, EMFILE])
    func descriptionContainsTheCTextAndTheNumber(_ code: Int32) {
        let d = Errno(rawValue: code).description
        #expect(d.contains(Self.cText(code)))
        #expect(d == "\(Self.cText(code)) (errno \(code))")
    }

    @Test func descriptionOfKnownCodes() {
        #expect(Errno.notFound.description == "No such file or directory (errno 2)")
        #expect(Errno.timerExpired.description.hasPrefix("Timer expired"))
    }

    @Test func negatedResultIsTheErrnoOfACompletion() {
        #expect(Errno(negatedResult: -ETIME) == .timerExpired)
        #expect(Errno(negatedResult: -ENOBUFS) == .noBufferSpace)
        #expect(Errno(negatedResult: -ECANCELED).rawValue == ECANCELED)
        #expect(Errno(negatedResult: -EAGAIN) == .wouldBlock)
    }

    @Test func namedCodesHaveTheirCValues() {
        #expect(Errno.interrupted.rawValue == EINTR)
        #expect(Errno.wouldBlock.rawValue == EAGAIN)
        #expect(Errno.busy.rawValue == EBUSY)
        #expect(Errno.canceled.rawValue == ECANCELED)
        #expect(Errno.tooManyOpenFiles.rawValue == EMFILE)
        #expect(Errno.tooManyOpenFilesInSystem.rawValue == ENFILE)
        #expect(Errno.brokenPipe.rawValue == EPIPE)
        #expect(Errno.badFileDescriptor.rawValue == EBADF)
        #expect(Errno.invalidArgument.rawValue == EINVAL)
        #expect(Errno.addressInUse.rawValue == EADDRINUSE)
        #expect(Errno.notSupported.rawValue == EOPNOTSUPP)
        #expect(Errno.connectionReset != Errno.brokenPipe)
    }

    @Test func systemErrorDescriptionNamesTheFunction() {
        let e = SystemError("io_uring_queue_init_params", .invalidArgument)
        #expect(e.function == "io_uring_queue_init_params")
        #expect(e.errno == .invalidArgument)
        #expect(e.description.hasPrefix("io_uring_queue_init_params: "))
        #expect(e.description == "io_uring_queue_init_params: \(Self.cText(EINVAL)) (errno \(EINVAL))")
        #expect(String(describing: SystemError("bind", .addressInUse)).contains("bind"))
    }
}
