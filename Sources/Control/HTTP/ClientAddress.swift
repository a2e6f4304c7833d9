import Engine
import Foundation
import HTTPTypes
import Hummingbird

/// Who the client is when requests come through reverse proxies. The socket peer is the client
/// unless it is one of `trustedProxies`; then the forwarding headers are read right to left (each
/// hop was appended by the proxy after it), skipping trusted proxies, and the first address that
/// is not one is the client. A client can prepend anything to those headers, but not past the
/// proxy that appended its real address. `Forwarded` (RFC 7239) is read when present, else
/// `X-Forwarded-For`. A hop that is not an address (`unknown`, an obfuscated name) ends the walk
/// at the last proxy.
public enum ClientAddress {
    static let forwarded = HTTPField.Name("Forwarded")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    /// More hops than this are not read (the header is the client's to pad).
    static let maximumHops = 32

    public static func resolve(peer: String, headers: HTTPFields, trustedProxies: [IPNetwork]) -> String {
        guard !trustedProxies.isEmpty, var current = IPNetwork.parseAddress(peer),
              trustedProxies.contains(where: { $0.contains(current) }) else { return peer }
        let hops = forwardingHops(headers)
        for hop in hops.reversed().prefix(maximumHops) {
            guard let address = IPNetwork.parseAddress(hop) else { break }
            current = address
            if !trustedProxies.contains(where: { $0.contains(address) }) { break }
        }
        return IPNetwork.format(current)
    }

    /// The client addresses the proxies recorded, leftmost (farthest) first, each without port,
    /// brackets or quotes.
    static func forwardingHops(_ headers: HTTPFields) -> [String] {
        let forwarded = headers[values: forwarded]
        if !forwarded.isEmpty {
            // Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:4711"
            return forwarded.joined(separator: ",").split(separator: ",").compactMap { element in
                for pair in element.split(separator: ";") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "for" else { continue }
                    return stripPort(parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
                }
                return "unknown"
            }
        }
        return headers[values: xForwardedFor].joined(separator: ",").split(separator: ",").map {
            stripPort($0.trimmingCharacters(in: .whitespaces))
        }
    }

    /// `[2001:db8::1]:4711` -> `2001:db8::1`, `192.0.2.1:80` -> `192.0.2.1`; a bare IPv6 address
    /// is left alone.
    static func stripPort(_ hop: String) -> String {
        if hop.hasPrefix("["), let close = hop.firstIndex(of: "]") {
            return String(hop[hop.index(after: hop.startIndex)..<close])
        }
        if hop.filter({ $0 == ":" }).count == 1, let colon = hop.firstIndex(of: ":") { return String(hop[..<colon]) }
        return hop
    }

    /// The key the login throttle counts a source under: an IPv4 address, or an IPv6 address's /64
    /// (one subscriber's allocation: rotating within it is not a new source).
    public static func throttleKey(_ source: String) -> String {
        guard let bytes = IPNetwork.parseAddress(source) else { return source }
        if bytes.count == 4 { return IPNetwork.format(bytes) }
        return "\(IPNetwork.format(IPNetwork.masked(bytes, to: 64)))/64"
    }
}

/// Sets `ControlContext.remoteAddress` to the client behind trusted proxies (`ClientAddress`).
struct ClientAddressMiddleware: RouterMiddleware {
    let trustedProxies: [IPNetwork]

    func handle(_ request: Request, context: ControlContext, next: (Request, ControlContext) async throws -> Response) async throws -> Response {
        var context = context
        context.remoteAddress = ClientAddress.resolve(peer: context.remoteAddress, headers: request.headers, trustedProxies: trustedProxies)
        return try await next(request, context)
    }
}
