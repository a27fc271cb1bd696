import Foundation
import Testing

/// Bad command-line input gets a one-line error and a non-zero exit, never a crash.
@Suite struct CommandLineTests {
    @Test(arguments: [
        ["serve", "--port", "70000"],
        ["serve", "--header-timeout", "abc"],
        ["serve", "--max-headers", "0"],
        ["serve", "--host", "not-an-address", "--port", "0"],
        ["serve", "--no-such-flag"],
        ["serve", "--receive-buffers", "100"],
        ["serve", "--receive-buffers", "0"],
        ["serve", "--receive-buffer-size", "100"],
        ["serve", "--receive-buffers", "32768", "--receive-buffer-size", "1048576"],
        ["serve", "--handoff", "ring", "--no-direct-descriptors"],
        ["serve", "--handoff", "ring", "--mode", "shared"],
        ["serve", "--handoff", "sideways"],
    ])
    func badArgumentsExitNonZeroWithAMessage(_ arguments: [String]) throws {
        let (status, _, stderr) = try runBinary(arguments)
        #expect(status == 64)
        expectOneErrorLine(stderr)
    }

    @Test func aHostThatIsNoAddressIsRefusedWhileParsing() throws {
        let (status, stdout, stderr) = try runBinary(["serve", "--host", "999.1.1.1", "--port", "0"])
        #expect(status == 64)
        #expect(stdout.isEmpty, "nothing started: \(stdout)")
        expectOneErrorLine(stderr, naming: "--host")
    }

    @Test(arguments: [("/nonexistent-root-dir", "no such directory"), ("/etc/hostname", "not a directory")])
    func aRootThatIsNoDirectoryIsOneLine(_ root: String, _ cause: String) throws {
        let (status, stdout, stderr) = try runBinary(["serve", "--port", "0", "--root", root])
        #expect(status == 64)
        #expect(stdout.isEmpty, "nothing started: \(stdout)")
        expectOneErrorLine(stderr, naming: cause)
    }

    @Test(arguments: [(["--user", "no-such-user-here"], "no such user"), (["--user", "nobody", "--group", "no-such-group"], "no such group"),
                      (["--group", "nogroup"], "--group needs --user"), (["--user", "root"], "is root")])
    func anAccountThatCannotBeUsedIsOneLine(_ flags: [String], _ cause: String) throws {
        let (status, stdout, stderr) = try runBinary(["serve", "--port", "0"] + flags)
        #expect(status == 64)
        #expect(stdout.isEmpty, "nothing started: \(stdout)")
        expectOneErrorLine(stderr, naming: cause)
    }

    @Test(arguments: [["--workers", "-1"], ["--workers=-3"]])
    func aNegativeWorkerCountSaysItIsNegative(_ arguments: [String]) throws {
        let (status, _, stderr) = try runBinary(["serve", "--port", "0"] + arguments)
        #expect(status == 64)
        expectOneErrorLine(stderr, naming: "negative")
    }

    /// Once, not once per worker and respawn (it was 35 lines ending in ECHILD), in every mode.
    @Test(arguments: [["--workers", "0"], ["--workers", "2", "--mode", "round-robin"],
                      ["--workers", "2", "--mode", "shared"], ["--workers", "2", "--mode", "reuseport"]])
    func aPortInUseIsOneLineAndAFastExit(_ arguments: [String]) throws {
        let server = try ServerProcess([])
        let (status, stdout, stderr) = try runBinary(["serve", "--port", String(server.port)] + arguments)
        #expect(status == 1)
        #expect(!stdout.contains("listening"))
        expectOneErrorLine(stderr, naming: "already in use")
        #expect(stderr.contains("--port"), "the fix is named: \(stderr)")
    }

    @Test(.enabled(if: (Int(((try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8)) ?? "1024")
                              .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1024) > 80,
                   "port 80 is open to every user here (net.ipv4.ip_unprivileged_port_start)"),
          arguments: [["--workers", "0"], ["--workers", "2"]])
    func aLowPortWithoutThePrivilegeSaysWhichPortsAreAllowed(_ arguments: [String]) throws {
        // Root here: the fixture takes away CAP_NET_BIND_SERVICE, as any other user lacks it.
        let (status, _, stderr) = try runBinary(["serve", "--port", "80"] + arguments,
                                                under: [ServerProcess.product("restricted"), "--no-bind-service"])
        #expect(status == 1)
        expectOneErrorLine(stderr, naming: "ports below")
    }

    /// Both first rings: the primary's (made before any worker) and a lone server's.
    @Test(arguments: ["EPERM", "ENOSYS"], ["2", "0"])
    func io_uringRefusedBySeccompIsOneLine(_ errno: String, _ workers: String) throws {
        let (status, _, stderr) = try runBinary(["serve", "--port", "0", "--workers", workers],
                                                under: [ServerProcess.product("restricted"), "--deny-io-uring", errno])
        #expect(status == 1)
        expectOneErrorLine(stderr, naming: "io_uring is unavailable")
        #expect(stderr.contains("seccomp"))
    }

    @Test func aKernelTooOldNamesWhatItLacks() throws {
        // setarch's UNAME26 personality makes uname(2) say 2.6.x to the program.
        let (status, _, stderr) = try runBinary(["serve", "--port", "0"], under: ["/usr/bin/setarch", "--uname-2.6"])
        #expect(status == 1)
        expectOneErrorLine(stderr, naming: "older than 6.0")
        #expect(stderr.contains("multishot receive"))
    }

    @Test func helpListsTheLimits() throws {
        let (status, stdout, _) = try runBinary(["serve", "--help"])
        #expect(status == 0)
        for flag in ["--host", "--port", "--header-timeout", "--keepalive-timeout", "--max-body-bytes", "--max-connections",
                     "--receive-buffers", "--receive-buffer-size"] {
            #expect(stdout.contains(flag), "\(flag) missing from --help")
        }
    }
}

/// One line, starting "Error:", naming the cause; no usage text after it.
func expectOneErrorLine(_ stderr: String, naming cause: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    let lines = stderr.split(separator: "\n")
    #expect(lines.count == 1, "one line, got: \(stderr)", sourceLocation: sourceLocation)
    #expect(lines.first?.hasPrefix("Error: ") == true, "\(stderr)", sourceLocation: sourceLocation)
    #expect(!stderr.contains("Usage"), "\(stderr)", sourceLocation: sourceLocation)
    if let cause { #expect(stderr.contains(cause), "\(stderr)", sourceLocation: sourceLocation) }
}
