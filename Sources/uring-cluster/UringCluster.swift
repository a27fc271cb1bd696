import ArgumentParser
import Glibc
import URing

@main
struct UringCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uring-cluster",
        abstract: "Node's cluster module on io_uring: an HTTP/1.1 server that shares one port.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )

    /// ArgumentParser's own `main`, except that a bad argument is one line (the cause, then
    /// where the options are listed) instead of the error followed by the usage text.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // Help and version requests, and exits whose line was already written.
            if exitCode(for: error) == .success || error is ExitCode { exit(withError: error) }
            printError("Error: \(message(for: error)) (see 'uring-cluster serve --help')")
            Glibc.exit(exitCode(for: error).rawValue)
        }
    }
}
