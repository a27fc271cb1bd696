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
        #expect(status != 0)
        #expect(!stderr.isEmpty)
        #expect(stderr.contains("Error") || stderr.contains("error"))
    }

    @Test func portInUseIsAClearError() throws {
        let server = try ServerProcess([])
        let (status, _, stderr) = try runBinary(["serve", "--port", String(server.port)])
        #expect(status != 0)
        #expect(stderr.contains("in use"))
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
