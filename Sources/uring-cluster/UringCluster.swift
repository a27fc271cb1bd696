import ArgumentParser

@main
struct UringCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uring-cluster",
        abstract: "Node's cluster module on io_uring: an HTTP/1.1 server that shares one port.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}
