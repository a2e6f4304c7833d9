import Synchronization
import Foundation

/// What the stub resolver takes from `/etc/resolv.conf`, read with glibc's
/// rules (resolv.conf(5)) so a probe resolves a name the way the host's own
/// tools do. Parsing is pure; only `load` touches the file system.
public struct ResolverConfiguration: Hashable, Sendable {
    /// resolv.conf has no port: nameservers are asked on the DNS port
    /// unless a caller sets `port` (a test server, `--dns-server IP:PORT`).
    public static let standardPort: UInt16 = 53
    /// glibc's MAXNS: further `nameserver` lines are ignored.
    public static let maximumNameservers = 3
    /// glibc's caps (RES_MAXNDOTS, RES_MAXRETRANS seconds, RES_MAXRETRY).
    public static let maximumNdots = 15
    public static let maximumTimeoutSeconds: UInt64 = 30
    public static let maximumAttempts = 5
    /// Where glibc sends queries when resolv.conf names no server.
    public static let loopbackNameserver = IPAddress.v4(0x7F00_0001)

    public var nameservers: [IPAddress]
    public var port: UInt16 = ResolverConfiguration.standardPort
    /// Domains appended to names with fewer than `ndots` dots, without
    /// their trailing dots.
    public var searchDomains: [String]
    public var ndots: Int
    /// Per-attempt timeout in nanoseconds.
    public var timeout: UInt64
    /// Rounds through the nameserver list.
    public var attempts: Int
    /// Start each query at the next nameserver instead of the first.
    public var rotate: Bool

    public init(
        nameservers: [IPAddress] = [Self.loopbackNameserver], searchDomains: [String] = [], ndots: Int = 1,
        timeout: UInt64 = 5_000_000_000, attempts: Int = 2, rotate: Bool = false
    ) {
        self.nameservers = nameservers
        self.searchDomains = searchDomains
        self.ndots = ndots
        self.timeout = timeout
        self.attempts = attempts
        self.rotate = rotate
    }

    /// Reads resolv.conf text. Lines that glibc would ignore (unknown
    /// keywords, unparsable addresses, IPv6 addresses with a `%scope`, bad
    /// option values) are ignored here too, never an error: a resolver must
    /// keep working with a file that has one odd line. Unlike glibc, text
    /// after `#` or `;` is dropped anywhere on a line, not only in column one.
    /// Not read: the `RES_OPTIONS` and `LOCALDOMAIN` environment variables and
    /// the host name's domain that glibc uses when there is no `search`.
    public static func parse(resolvConf text: String) -> ResolverConfiguration {
        var configuration = ResolverConfiguration(nameservers: [])
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.prefix { $0 != "#" && $0 != ";" }.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = fields.first else { continue }
            let values = fields.dropFirst()
            switch keyword {
            case "nameserver":
                guard configuration.nameservers.count < maximumNameservers,
                      let text = values.first, let address = IPAddress(text) else { continue }
                configuration.nameservers.append(address)
            case "domain", "search":
                // Whichever comes last wins; `domain` is a one-entry list.
                guard !values.isEmpty else { continue }
                let domains = keyword == "domain" ? Array(values.prefix(1)) : Array(values)
                configuration.searchDomains = domains.map { DNSName.withoutTrailingDot($0) }.filter { !$0.isEmpty }
            case "options":
                for option in values { configuration.apply(option: option) }
            default:
                continue
            }
        }
        if configuration.nameservers.isEmpty { configuration.nameservers = [loopbackNameserver] }
        return configuration
    }

    /// Reads `path`; a missing or unreadable file gives the defaults, as
    /// glibc's resolver does.
    /// The file as it is now; parsed again only when it changed (its modification time, size
    /// or inode), as glibc reloads it: an agent starts a hundred runs a second.
    public static func load(path: String = "/etc/resolv.conf") -> ResolverConfiguration {
        parsedFiles.current(path) { parse(resolvConf: $0) }
    }

    /// One `options` word: `ndots:n`, `timeout:n`, `attempts:n`, `rotate`.
    /// Values are capped as glibc caps them; a timeout of 0 means 1 second
    /// (glibc's effective minimum) and attempts are at least 1, since a
    /// resolver that never asks is of no use.
    mutating func apply(option: Substring) {
        let parts = option.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let value = parts.count == 2 ? Int(parts[1]) : nil
        switch parts[0] {
        case "ndots":
            if let value, value >= 0 { ndots = min(value, Self.maximumNdots) }
        case "timeout":
            if let value, value >= 0 {
                timeout = min(max(UInt64(value), 1), Self.maximumTimeoutSeconds) * 1_000_000_000
            }
        case "attempts":
            if let value, value >= 0 { attempts = min(max(value, 1), Self.maximumAttempts) }
        case "rotate":
            rotate = true
        default:
            break
        }
    }

    /// The names to query for `name`, in order, with glibc's search rules
    /// (res_search): a name ending in `.` is absolute and tried alone; a name
    /// with at least `ndots` dots is tried as written first, then with each
    /// search domain; a name with fewer dots tries the search domains first
    /// and itself last. Names come without trailing dots; candidates longer
    /// than a DNS name can be are left out, and duplicates are tried once.
    public func candidates(for name: String) -> [String] {
        let bare = DNSName.withoutTrailingDot(name)
        guard !bare.isEmpty else { return [] }
        if name.hasSuffix(".") { return [bare] }
        let dots = bare.utf8.reduce(0) { $1 == UInt8(ascii: ".") ? $0 + 1 : $0 }
        let searched = searchDomains.map { bare + "." + $0 }
        let ordered = dots >= ndots ? [bare] + searched : searched + [bare]
        var seen: Set<String> = []
        return ordered.filter { candidate in
            candidate.utf8.count <= DNSMessage.maximumNameLength && seen.insert(DNSName.canonical(candidate)).inserted
        }
    }
}

/// The static table of `/etc/hosts`, consulted before DNS as glibc does with
/// `hosts: files dns`.
public struct HostsFile: Hashable, Sendable {
    /// Addresses by lower-cased name without trailing dot, in file order.
    var addresses: [String: [IPAddress]] = [:]

    public init() {}

    /// Reads hosts(5) text: an address, then the canonical name and aliases;
    /// `#` starts a comment. A name on several lines gets all their addresses
    /// (glibc with `multi on`, the default since 2.26). Lines whose address
    /// does not parse, including IPv6 with a `%scope`, are ignored.
    public static func parse(_ text: String) -> HostsFile {
        var hosts = HostsFile()
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.prefix { $0 != "#" }.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let address = IPAddress(fields[0]) else { continue }
            for name in fields.dropFirst() {
                let key = DNSName.canonical(String(name))
                guard !key.isEmpty else { continue }
                if hosts.addresses[key, default: []].contains(address) { continue }
                hosts.addresses[key, default: []].append(address)
            }
        }
        return hosts
    }

    /// Reads `path`; a missing or unreadable file is an empty table.
    /// The file as it is now (parsed again only when it changed, as `ResolverConfiguration.load`).
    public static func load(path: String = "/etc/hosts") -> HostsFile {
        parsedFiles.current(path) { parse($0) }
    }

    /// The addresses of `name` of the family `type` asks for (A: IPv4, AAAA:
    /// IPv6; CNAME: none, the file has no aliases in the DNS sense).
    public func lookup(_ name: String, type: DNSRecordType) -> [IPAddress] {
        let all = addresses[DNSName.canonical(name)] ?? []
        switch type {
        case .a: return all.filter { !$0.isIPv6 }
        case .aaaa: return all.filter(\.isIPv6)
        case .cname: return []
        }
    }
}

/// A text file's contents, or "" when it cannot be read. Decoding is lossy so
/// a stray non-UTF-8 byte in a comment does not lose the whole file.
/// Parsed files by path, with what identified the version parsed.
private let parsedFiles = ParsedFiles()

private final class ParsedFiles: Sendable {
    private struct Entry: @unchecked Sendable {
        var stamp: [Int]
        var value: Any
    }
    private let entries = Mutex<[String: Entry]>([:])

    func current<T>(_ path: String, parse: (String) -> T) -> T {
        var info = stat()
        let stamp = stat(path, &info) == 0
            ? [Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_size), Int(info.st_ino), Int(info.st_ctim.tv_nsec)] : []
        if !stamp.isEmpty, let entry = entries.withLock({ $0[path] }), entry.stamp == stamp, let value = entry.value as? T { return value }
        let value = parse(readText(path))
        if !stamp.isEmpty { entries.withLock { $0[path] = Entry(stamp: stamp, value: value) } }
        return value
    }
}

private func readText(_ path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}
