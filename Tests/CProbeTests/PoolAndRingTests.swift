import CProbe
import Foundation
import Glibc
import Synchronization
import Testing

@Suite struct PoolTests {
    @Test func freedBlocksAreReusedWarmWithinTheirClass() {
        let a = cprobe_pool_malloc(40, nil)!
        memset(a, 0xab, 40)
        cprobe_pool_free(a, nil)
        // LIFO: the same class (33-48 bytes) hands the block straight back.
        let b = cprobe_pool_malloc(48, nil)!
        #expect(b == a)
        // Another class does not.
        let c = cprobe_pool_malloc(100, nil)!
        #expect(c != a)
        cprobe_pool_free(b, nil)
        cprobe_pool_free(c, nil)
        // Alignment as malloc's.
        for size in [1, 15, 16, 17, 1024, 1025, 100_000] {
            let p = cprobe_pool_malloc(size, nil)!
            #expect(Int(bitPattern: p) % 16 == 0, "size \(size)")
            cprobe_pool_free(p, nil)
        }
        cprobe_pool_free(nil, nil)
    }

    @Test func callocZeroesAndReallocKeepsContents() {
        // A recycled block comes back dirty from malloc but zeroed from calloc.
        let dirty = cprobe_pool_malloc(64, nil)!
        memset(dirty, 0xff, 64)
        cprobe_pool_free(dirty, nil)
        let z = cprobe_pool_calloc(8, 8, nil)!.assumingMemoryBound(to: UInt8.self)
        #expect((0..<64).allSatisfy { z[$0] == 0 })
        for i in 0..<64 { z[i] = UInt8(i) }
        // Growing past the class (and past the pooled sizes) keeps the bytes.
        let bigger = cprobe_pool_realloc(z, 5000, nil)!.assumingMemoryBound(to: UInt8.self)
        #expect((0..<64).allSatisfy { bigger[$0] == UInt8($0) })
        let huge = cprobe_pool_realloc(bigger, 200_000, nil)!.assumingMemoryBound(to: UInt8.self)
        #expect((0..<64).allSatisfy { huge[$0] == UInt8($0) })
        // Shrinking back into a pooled class too.
        let small = cprobe_pool_realloc(huge, 32, nil)!.assumingMemoryBound(to: UInt8.self)
        #expect((0..<32).allSatisfy { small[$0] == UInt8($0) })
        cprobe_pool_free(small, nil)
        #expect(cprobe_pool_calloc(Int.max / 4, 8, nil) == nil)  // overflow refused
    }

    @Test func blocksMayBeFreedOnAnotherThread() async {
        // Allocated here, freed on a thread that then exits (its lists go
        // back to malloc): nothing crashes, and this thread's pool still works.
        let blocks = (0..<1000).map { UInt(bitPattern: cprobe_pool_malloc(16 * (1 + $0 % 64), nil)) }
        let done = DispatchSemaphore(value: 0)
        let reused = Mutex<Bool>(false)
        let thread = Thread {
            for b in blocks { cprobe_pool_free(UnsafeMutableRawPointer(bitPattern: b), nil) }
            // They joined this thread's lists: its next block of the last
            // one's class is that block.
            let again = cprobe_pool_malloc(16 * (1 + 999 % 64), nil)
            reused.withLock { $0 = UInt(bitPattern: again) == blocks[999] }
            cprobe_pool_free(again, nil)
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(reused.withLock { $0 })
        let p = cprobe_pool_malloc(32, nil)!
        memset(p, 1, 32)
        cprobe_pool_free(p, nil)
    }
}

@Suite struct RingGatherTests {
    /// A ring with a receive posted on each of `count` UDP sockets bound to
    /// loopback; returns the ring, the sockets and their buffers.
    final class Fixture {
        var ring: OpaquePointer? = nil
        var sockets: [Int32] = []
        var addresses: [sockaddr_in] = []
        let buffers = UnsafeMutableRawPointer.allocate(byteCount: 64 * 8, alignment: 16)
        let out = UnsafeMutablePointer<cprobe_completion>.allocate(capacity: 16)

        init(count: Int) throws {
            try #require(cprobe_ring_create(&ring, 64, 1, 64) == 0)
            for k in 0..<count {
                let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_addr.s_addr = inet_addr("127.0.0.1")
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) } }
                _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
                sockets.append(s)
                addresses.append(a)
                #expect(cprobe_ring_prep_recv_buffer(ring, 0, UInt8(k), s, buffers + 64 * k, 64) >= 0)
            }
        }

        func send(to k: Int) {
            var a = addresses[k]
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            _ = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(s, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(s)
        }

        /// Milliseconds the call took, and the completions it returned.
        func run(wait: UInt64, gather: UInt32, window: UInt64) -> (Double, Int32) {
            let start = cprobe_monotonic_ns()
            let n = cprobe_ring_run_gather(ring, out, 16, wait, gather, window)
            return (Double(cprobe_monotonic_ns() - start) / 1e6, n)
        }

        deinit {
            cprobe_ring_destroy(ring)
            for s in sockets { close(s) }
            buffers.deallocate()
            out.deallocate()
        }
    }

    @Test func gatheringWaitsTheWindowForMoreThenTakesWhatCame() throws {
        let f = try Fixture(count: 3)
        _ = f.run(wait: 0, gather: 1, window: 0)  // submit the receives
        f.send(to: 0)
        // One completion ready, three wanted: it waits the window (~60 ms),
        // not the whole wait (5 s), and returns the one.
        let (ms, n) = f.run(wait: 5_000_000_000, gather: 3, window: 60_000_000)
        #expect(n == 1)
        #expect(ms >= 50 && ms < 2_000, "took \(ms) ms")
        // Without gathering the next one is taken as soon as it is there.
        f.send(to: 1)
        let (fast, m) = f.run(wait: 5_000_000_000, gather: 1, window: 0)
        #expect(m == 1 && fast < 50, "took \(fast) ms")
    }

    @Test func gatheringReturnsOnceEnoughCameAndStillHonoursTheWait() throws {
        let f = try Fixture(count: 3)
        _ = f.run(wait: 0, gather: 1, window: 0)
        for k in 0..<3 { f.send(to: k) }
        // All three are there: no waiting at all.
        let (ms, n) = f.run(wait: 5_000_000_000, gather: 3, window: 2_000_000_000)
        #expect(n == 3 && ms < 1_000, "took \(ms) ms, \(n) completions")
        // Nothing pending: the window passes, then the rest of the wait (a
        // timer's wake-up is never overslept).
        let g = try Fixture(count: 1)
        _ = g.run(wait: 0, gather: 1, window: 0)
        let (idle, none) = g.run(wait: 80_000_000, gather: 4, window: 20_000_000)
        #expect(none == 0 && idle >= 70 && idle < 2_000, "took \(idle) ms")
        // A window longer than the wait is cut to the wait.
        let (cut, _) = g.run(wait: 30_000_000, gather: 4, window: 1_000_000_000)
        #expect(cut >= 25 && cut < 900, "took \(cut) ms")
    }
}
