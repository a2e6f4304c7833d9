import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The per-request context: who is calling (set by `AuthenticationMiddleware`) and from where.
public struct ControlContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by a WebSocket route that accepts the upgrade (`Routes.webSocket`).
    public let webSocket = WebSocketHandlerReference<ControlContext>()
    public var principal: Principal?
    /// Why a presented credential was refused; answered by routes that need a principal.
    public var authenticationFailure: APIError?
    /// The client's address: the socket peer, or behind `trusted_proxies` the address they
    /// forwarded (`ClientAddressMiddleware`).
    public var remoteAddress: String
    /// The socket peer, whatever proxies say (`ExporterAccess`: only a caller on this host itself
    /// is local).
    public let peerAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        peerAddress = remoteAddress
    }

    /// Bodies are read by `Request.json(_:)` with each route's own limit; this is Hummingbird's
    /// fallback for anything else.
    public var maxUploadSize: Int { 1 << 20 }
}
