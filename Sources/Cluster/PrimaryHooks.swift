/// What an application hangs on its primary: handlers of workers' events and of their
/// requests, and where the descriptors workers send go. The Cluster keeps them until the
/// primary's machinery is made (at the first `fork()` or `run()`), then the primary does.
struct PrimaryHooks {
    var events = EventHandlers()
    /// Answers to workers' requests (`Cluster.onRequest`), by request name.
    var requestHandlers: [String: (Worker, [UInt8]) throws -> [UInt8]] = [:]
    /// Where descriptors workers send go (`Cluster.onWorkerDescriptor`); nil: closed.
    var workerDescriptorHandler: ((Worker, [UInt8], Int32) -> Void)? = nil
}
