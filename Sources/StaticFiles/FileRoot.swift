import Glibc
import URing

/// The directory a file server serves, held open (O_PATH) for the process's life: every
/// request's file is opened beneath this descriptor (openat2 with RESOLVE_BENEATH), so a
/// rename of the directory's path later changes nothing, and nothing outside it is reached.
public final class FileRoot: Sendable {
    public let descriptor: Int32
    public let path: String

    /// Opens `path`; the error names what is wrong with it in words a person can act on.
    public init(_ path: String) throws(FileRootError) {
        // O_PATH by value (010000000 on every Linux architecture this builds for): glibc
        // declares it only under _GNU_SOURCE. A path descriptor needs no read permission
        // on the directory and can be used only as a base for lookups.
        let fd = open(path, 0o10000000 | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ENOENT: throw FileRootError("--root \(path): no such directory; create it or name an existing one")
            case ENOTDIR: throw FileRootError("--root \(path): not a directory; name the directory to serve, not a file")
            case EACCES: throw FileRootError("--root \(path): permission denied; the server's user must be able to search it")
            default: throw FileRootError("--root \(path): \(Errno(rawValue: e))")
            }
        }
        descriptor = fd
        self.path = path
    }

    deinit { closeDescriptor(descriptor) }
}

public struct FileRootError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
