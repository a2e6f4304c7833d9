import ProbeModel
import Foundation

/// Settings for a probe run, shared by every kind. Validated once, before
/// anything is sent.
public struct ProbeSettings: Sendable, Equatable {
    /// Probes per target; nil: until cancelled.
    public var count: Int? = 3
    /// Per-target period (fping -p), nanoseconds.
    public var interval: UInt64 = 1_000_000_000
    /// Per-probe timeout, nanoseconds.
    public var timeout: UInt64 = 1_000_000_000
    /// Probes in flight at most, per ring thread.
    public var concurrency: Int = 10_000
    /// Global probes per second across all threads; nil: unlimited.
    public var rate: Double? = nil
    /// ICMP/UDP payload bytes (TCP: bytes sent after connecting, 0 = none).
    public var size: Int = 56
    /// TTL / hop limit for outgoing probes; nil: system default.
    public var ttl: Int? = nil
    /// Ring threads, each with its own sockets and share of targets.
    public var threads: Int = 1

    /// Threads for a one-off run over `targets` targets when none were asked for: one per core
    /// (at most 8) once there are 4,096 targets per thread to share, else one. A /16 sweep on
    /// two cores takes half the time on two threads; a few targets gain nothing from more.
    public static func automaticThreads(targets: Int, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        max(1, min(cores, targets / 4096, 8))
    }
    /// ICMP socket kind; nil: ping socket if allowed, else raw.
    public var icmpSocket: ICMPSocketKind? = nil
    /// Use kernel TX timestamps where available.
    public var kernelTransmitTimestamps = true
    /// TCP: bytes expected back after sending `size` bytes (0: do not read).
    public var expectBytes: Int = 0

    public init() {}

    /// Checks every field; the error names the first bad one.
    public func validate() throws(ConfigurationError) {
        if let count, count < 1 { throw ConfigurationError(field: "count", "must be at least 1, got \(count)") }
        if interval > 86_400_000_000_000 { throw ConfigurationError(field: "interval", "must be at most one day") }
        if timeout == 0 { throw ConfigurationError(field: "timeout", "must be greater than 0") }
        if !(1...65_536).contains(concurrency) {
            throw ConfigurationError(field: "concurrency", "must be 1-65536, got \(concurrency)")
        }
        if let rate, !(rate > 0 && rate.isFinite) { throw ConfigurationError(field: "rate", "must be a positive number") }
        if !(0...65_000).contains(size) { throw ConfigurationError(field: "size", "must be 0-65000, got \(size)") }
        if let ttl, !(1...255).contains(ttl) { throw ConfigurationError(field: "ttl", "must be 1-255, got \(ttl)") }
        if !(1...64).contains(threads) { throw ConfigurationError(field: "threads", "must be 1-64, got \(threads)") }
        if !(0...65_000).contains(expectBytes) { throw ConfigurationError(field: "expect", "must be 0-65000") }
    }
}

/// Which ICMP socket a run uses.
public enum ICMPSocketKind: String, Sendable, CaseIterable {
    /// SOCK_DGRAM ping socket: unprivileged, allowed by net.ipv4.ping_group_range.
    case ping
    /// SOCK_RAW: needs CAP_NET_RAW.
    case raw
}
