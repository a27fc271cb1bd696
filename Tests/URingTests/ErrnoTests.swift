import Glibc
import SystemPackage
import Testing
@testable import URing

@Suite("Errno")
struct ErrnoTests {
    static func cText(_ code: Int32) -> String { String(cString: strerror(code)) }

    @Test(arguments: [ENOENT, EINTR, EAGAIN, ETIME, ECONNRESET, EADDRINUSE, EMFILE])
    func aSystemErrorCarriesTheCTextAndTheNumber(_ code: Int32) {
        let d = SystemError("f", Errno(rawValue: code)).description
        #expect(d.contains(Self.cText(code)))
        #expect(d == "f: \(Self.cText(code)) (errno \(code))")
    }

    @Test func errnoIsSwiftSystems() {
        // One type with the ecosystem: a SystemPackage.Errno is ours, with the C text.
        let e: SystemPackage.Errno = Errno.noSuchFileOrDirectory
        #expect(e.description == Self.cText(ENOENT))
        #expect(Errno.timeout.description.hasPrefix("Timer expired"))
    }

    @Test func negatedResultIsTheErrnoOfACompletion() {
        #expect(Errno(negatedResult: -ETIME) == .timeout)
        #expect(Errno(negatedResult: -ENOBUFS) == .noBufferSpace)
        #expect(Errno(negatedResult: -ECANCELED).rawValue == ECANCELED)
        #expect(Errno(negatedResult: -EAGAIN) == .wouldBlock)
    }

    @Test func namedCodesHaveTheirCValues() {
        #expect(Errno.interrupted.rawValue == EINTR)
        #expect(Errno.wouldBlock.rawValue == EAGAIN)
        #expect(Errno.resourceBusy.rawValue == EBUSY)
        #expect(Errno.canceled.rawValue == ECANCELED)
        #expect(Errno.tooManyOpenFiles.rawValue == EMFILE)
        #expect(Errno.tooManyOpenFilesInSystem.rawValue == ENFILE)
        #expect(Errno.brokenPipe.rawValue == EPIPE)
        #expect(Errno.badFileDescriptor.rawValue == EBADF)
        #expect(Errno.invalidArgument.rawValue == EINVAL)
        #expect(Errno.addressInUse.rawValue == EADDRINUSE)
        #expect(Errno.notSupportedOnSocket.rawValue == EOPNOTSUPP)
        #expect(Errno.connectionAbort.rawValue == ECONNABORTED)
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
