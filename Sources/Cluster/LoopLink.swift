// Carriers of a loop's object into a task that runs on that loop's executor: the tasks'
// closures are Sendable, the objects are not, and they are used only on their own loop.

/// The worker's channel, into a request's cancel handler.
struct ChannelLink: @unchecked Sendable {
    let channel: WorkerChannel
}
