import Synchronization

/// Where this process's ring threads spend their time, summed over every thread of every run:
/// waiting in the kernel for completions, and everything else (polling clients, building and
/// matching probes, observers). Utilisation is busy / (busy + waiting). Published by each ring
/// loop every few milliseconds of accumulated time, not per turn, so threads do not contend.
public enum RingStatistics {
    public static let busyNanoseconds = Atomic<UInt64>(0)
    public static let waitNanoseconds = Atomic<UInt64>(0)
    /// Ring loops that have started, and ended.
    public static let runsStarted = Atomic<UInt64>(0)
    public static let runsEnded = Atomic<UInt64>(0)
    /// Rings a run found kept on its thread and used (`RingReuse`), and rings set up anew.
    public static let ringsReused = Atomic<UInt64>(0)
    public static let ringsCreated = Atomic<UInt64>(0)

    /// A ring loop's time not yet published.
    struct Local {
        var busy: UInt64 = 0
        var wait: UInt64 = 0

        mutating func add(busy b: UInt64, wait w: UInt64) {
            busy &+= b
            wait &+= w
            if busy &+ wait > 10_000_000 { publish() }
        }

        mutating func publish() {
            if busy > 0 { RingStatistics.busyNanoseconds.add(busy, ordering: .relaxed) }
            if wait > 0 { RingStatistics.waitNanoseconds.add(wait, ordering: .relaxed) }
            busy = 0
            wait = 0
        }
    }
}
