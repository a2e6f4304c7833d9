import Hummingbird
import HummingbirdCore
import NIOCore

/// How long a connection may sit idle and how long a request body may take to arrive (slowloris).
/// The idle timeout goes to the HTTP server when the application is built; the body deadline is
/// read by `Request.jsonBody`, bound for each handler by `Routes`.
enum ConnectionLimits {
    /// The body deadline of the request being handled (set per application by `Routes`).
    @TaskLocal static var bodyTimeout: Duration = .seconds(30)

    /// The HTTP/1.1 server: a connection with no request for `idleTimeout` is closed.
    static func server(idleTimeout: Duration?) -> HTTPServerBuilder {
        .http1(configuration: .init(idleTimeout: idleTimeout.map { TimeAmount.nanoseconds($0.nanoseconds) }))
    }
}
