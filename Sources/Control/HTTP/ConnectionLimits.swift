import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore

/// How long a connection may sit idle and how long a request body may take to arrive (slowloris).
/// The idle timeout goes to the HTTP server when the application is built; the body deadline is
/// read by `Request.jsonBody`, bound for each handler by `Routes`.
enum ConnectionLimits {
    /// The body deadline of the request being handled (set per application by `Routes`).
    @TaskLocal static var bodyTimeout: Duration = .seconds(30)

    /// The HTTP/1.1 server, with WebSocket upgrades on the routes `router` declares with
    /// `Routes.webSocket`: a connection with no request for `idleTimeout` is closed (an upgraded
    /// one is pinged instead, and closed when the pong does not come).
    static func server(idleTimeout: Duration?, router: Router<ControlContext>) -> HTTPServerBuilder {
        .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(
            http1: .init(idleTimeout: idleTimeout.map { TimeAmount.nanoseconds($0.nanoseconds) }),
            ws: .init(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: .seconds(30)))))
    }
}
