/// Parses durations written as `250ms`, `1.5s`, `20us`, `100ns`, `2m`, `24h`, `90d`, or a
/// plain number of seconds.
public enum DurationParser {
    public static func nanoseconds(_ text: String, field: String) throws(ConfigurationError) -> UInt64 {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = Substring(trimmed)
        var scale = 1e9
        for (suffix, s) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            scale = s
            break
        }
        guard let value = Double(number), value.isFinite else {
            throw ConfigurationError(field: field, "'\(text)' is not a duration (e.g. 250ms, 1s, 20us)")
        }
        guard value >= 0 else { throw ConfigurationError(field: field, "must not be negative, got '\(text)'") }
        let ns = value * scale
        guard ns < 1e18 else { throw ConfigurationError(field: field, "'\(text)' is too long") }
        return UInt64(ns.rounded())
    }
}

import ProbeModel
import Foundation

/// The unit conversions the control plane and the agent need, in one place.
extension Duration {
    /// Whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds (truncated).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Seconds as a `Double` (for rates and `Date` deadlines).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
