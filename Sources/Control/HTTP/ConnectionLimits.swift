import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// How long a connection may sit idle and how long a request body may take to arrive (slowloris).
/// The idle timeout goes to the HTTP server when the application is built; the body deadline is
/// read by `Request.jsonBody` and set here once per process.
enum ConnectionLimits {
    private static let bodyTimeoutNanoseconds = Atomic<Int64>(30_000_000_000)

    static var bodyTimeout: Duration {
        get { .nanoseconds(bodyTimeoutNanoseconds.load(ordering: .relaxed)) }
        set {
            let (seconds, attoseconds) = newValue.components
            bodyTimeoutNanoseconds.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
        }
    }

    /// The HTTP/1.1 server: a connection with no request for `idleTimeout` is closed.
    static func server(idleTimeout: Duration?) -> HTTPServerBuilder {
        .http1(configuration: .init(idleTimeout: idleTimeout.map { duration in
            let (seconds, attoseconds) = duration.components
            return TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }))
    }
}
