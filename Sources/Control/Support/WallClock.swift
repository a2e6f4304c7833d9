import Foundation

/// Wall-clock time for stored timestamps (not a Swift `Clock`: these are calendar milliseconds).
enum WallClock {
    static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
