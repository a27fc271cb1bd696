import HTTP1
import Logging

/// Logs each answered request through swift-log, at `level` (info by default):
/// `GET /notes/7 200 23B 0.41ms`; a handler abandoned before it answered (504, or the
/// client left) as `GET /slow abandoned 0B 60000.1ms`. A logger whose level is above it costs one comparison per
/// request: the message is built only when it is logged.
public struct RequestLog: Middleware {
    public let logger: Logger
    public let level: Logger.Level

    public init(_ logger: Logger, level: Logger.Level = .info) {
        self.logger = logger
        self.level = level
    }

    public var measuresTime: Bool { logger.logLevel <= level }

    public func completed(_ done: CompletedRequest) {
        guard logger.logLevel <= level else { return }
        let ms = Double(done.durationNanoseconds / 1_000) / 1_000
        let status = done.status == 0 ? "abandoned" : String(done.status)
        logger.log(level: level, "\(done.request.methodName) \(done.request.rawPath) \(status) \(done.bodyBytes)B \(ms)ms")
    }
}
