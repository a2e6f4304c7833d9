import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// How long a connection may sit idle and how long a request body may take to arrive (slowloris).
/// The idle timeout goes to the HTTP server when the application is built; the body deadline is
/// read by `Request.jsonBody`, bound for each handler by `Routes`.
enum ConnectionLimits {
    /// The body deadline of the request being handled (set per application by `Routes`).
    @TaskLocal static var bodyTimeout: Duration = .seconds(30)

    /// The HTTP/1.1 server, with WebSocket upgrades on the routes `router` declares with
    /// `Routes.webSocket`: a connection with no request for `idleTimeout` is closed (an upgraded
    /// one is pinged instead, and closed when the pong does not come). The upgrade channel
    /// installs its idle handler only once a first request head is complete, so
    /// `RequestHeadDeadline` closes a connection whose first head does not arrive in time.
    static func server(idleTimeout: Duration?, router: Router<ControlContext>) -> HTTPServerBuilder {
        let webSocketResponder = router.buildResponder()
        let idle = idleTimeout.map { TimeAmount.nanoseconds($0.nanoseconds) }
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: idle), ws: .init(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: .seconds(30))))
        return HTTPServerBuilder { responder in
            let channel = HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration)
            guard let idle else { return channel }
            return HeadDeadlineChannel(inner: channel, timeout: idle)
        }
    }
}

/// A server child channel whose connections must send a complete first request head within
/// `timeout` (`RequestHeadDeadline`), then set up as `inner` sets them up.
struct HeadDeadlineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(RequestHeadDeadline(timeout: timeout))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes the connection unless the bytes of a whole request head (up to its blank line)
/// arrive within `timeout`; then steps out of the pipeline.
final class RequestHeadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// How much of "\r\n\r\n" the bytes so far end with.
    private var matched = 0

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let pattern: [UInt8] = [13, 10, 13, 10]
        let complete = buffer.readableBytesView.contains { byte in
            matched = byte == pattern[matched] ? matched + 1 : (byte == 13 ? 1 : 0)
            return matched == 4
        }
        context.fireChannelRead(data)
        if complete {
            deadline?.cancel()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
