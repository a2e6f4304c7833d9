import Foundation

/// Alt-Svc (RFC 7838): where a server says the same origin is also served.
public enum AltSvc {
    /// The HTTP/3 alternative in an Alt-Svc value, the first `h3` entry:
    /// its host (nil: the origin's) and port. `clear` and other protocols
    /// (h3-29, h2, ...) give nil.
    public static func h3Endpoint(_ value: String) -> (host: String?, port: UInt16)? {
        for entry in value.split(separator: ",") {
            let parameters = entry.split(separator: ";")
            guard let first = parameters.first else { continue }
            let pair = first.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == "h3" else { continue }
            var authority = pair[1].trimmingCharacters(in: .whitespaces)
            guard authority.count >= 2, authority.hasPrefix("\""), authority.hasSuffix("\"") else { continue }
            authority = String(authority.dropFirst().dropLast())
            guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]),
                  port > 0 else { continue }
            var host = String(authority[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return (host.isEmpty ? nil : host, port)
        }
        return nil
    }
}
