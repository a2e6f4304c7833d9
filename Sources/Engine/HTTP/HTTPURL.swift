import ProbeModel

/// An http:// or https:// URL, split into what a request needs.
public struct HTTPURL: Sendable, Hashable, CustomStringConvertible {
    public var secure: Bool
    /// Host as written (a name, an IPv4 literal, or an IPv6 literal without brackets).
    public var host: String
    public var port: UInt16
    /// Path and query, starting with "/".
    public var path: String

    public init(secure: Bool, host: String, port: UInt16, path: String) {
        self.secure = secure
        self.host = host
        self.port = port
        self.path = path
    }

    /// Parses `text`; the error names `field`.
    public init(_ text: String, field: String = "url") throws(ConfigurationError) {
        let lower = text.lowercased()
        var rest: Substring
        if lower.hasPrefix("https://") {
            secure = true
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            secure = false
            rest = text.dropFirst(7)
        } else {
            throw ConfigurationError(field: field, "'\(text)' must start with http:// or https://")
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var p = String(rest[authorityEnd...])
        if p.isEmpty || p.first == "?" { p = "/" + p }
        path = p
        if authority.contains("@") {
            throw ConfigurationError(field: field, "credentials in the URL are not supported; use --header Authorization")
        }
        var hostPart = authority
        var portText: Substring? = nil
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else {
                throw ConfigurationError(field: field, "'\(text)': unterminated [IPv6] literal")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.first == ":" { portText = after.dropFirst() }
            else if !after.isEmpty { throw ConfigurationError(field: field, "'\(text)': junk after ']'") }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw ConfigurationError(field: field, "'\(text)' has no host") }
        host = String(hostPart)
        if let portText {
            guard let n = UInt16(portText), n > 0 else {
                throw ConfigurationError(field: field, "'\(text)': port must be 1-65535")
            }
            port = n
        } else {
            port = secure ? 443 : 80
        }
    }

    /// The Host header value: the port only when it is not the scheme's default.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? h : "\(h):\(port)"
    }

    public var origin: String { (secure ? "https://" : "http://") + authority }
    public var description: String { origin + path }

    /// Resolves a Location header against this URL (absolute, scheme-relative,
    /// absolute-path or relative-path references; RFC 3986 §5.2 without dot
    /// segment removal).
    public func resolving(_ location: String) throws(ConfigurationError) -> HTTPURL {
        let lower = location.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            return try HTTPURL(location, field: "Location")
        }
        if location.hasPrefix("//") {
            return try HTTPURL((secure ? "https:" : "http:") + location, field: "Location")
        }
        var next = self
        if location.hasPrefix("/") {
            next.path = location
        } else {
            let base = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
            let directory = base.lastIndex(of: "/").map { String(base[...$0]) } ?? "/"
            next.path = directory + location
        }
        if let hash = next.path.firstIndex(of: "#") { next.path = String(next.path[..<hash]) }
        return next
    }
}
