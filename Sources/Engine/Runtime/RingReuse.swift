import CProbe
import Foundation

/// One ring kept per thread between runs, so a thread of `RingThreadPool` that runs check after
/// check (a `/probe` scrape, an agent's batch, a server-side test) does not set up and tear down
/// an io_uring instance for each: for a one-probe run that was about a tenth of its CPU.
///
/// A ring is kept only when its run ended with every client idle (nothing in flight) and it is
/// small (`maxKeptBytes` of slot buffers); it is handed to a later run on the same thread only if
/// that run's plan fits it (`Ring.fits`), with the plan's slots and buffers zeroed first. The ring
/// is SINGLE_ISSUER: it never leaves its thread, and it is destroyed with the thread.
enum RingReuse {
    /// Slot buffers a kept ring may hold.
    static let maxKeptBytes = 1 << 20
    private static let key = "waddleperf.ring"

    /// This thread's kept ring, if `plan` fits it, ready for a new run; else nil (and a ring that
    /// does not fit is dropped, so the one this run makes can be kept instead).
    static func take(fitting plan: SlotPlan) -> Ring? {
        let dictionary = Thread.current.threadDictionary
        guard let ring = dictionary[key] as? Ring else {
            RingStatistics.ringsCreated.add(1, ordering: .relaxed)
            return nil
        }
        dictionary.removeObject(forKey: key)
        guard ring.fits(plan) else {
            RingStatistics.ringsCreated.add(1, ordering: .relaxed)
            return nil
        }
        cprobe_ring_clear_slots(ring.pointer, plan.bufferedSlots)
        RingStatistics.ringsReused.add(1, ordering: .relaxed)
        return ring
    }

    /// Keeps `ring` for this thread's next run, if it is small enough to hold on to.
    static func keep(_ ring: Ring) {
        guard Int(ring.slotCount) * ring.bufferSize <= maxKeptBytes else { return }
        Thread.current.threadDictionary[key] = ring
    }
}
