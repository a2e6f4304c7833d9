import Engine
import Foundation
import Synchronization
import Testing

@Suite("Thread names")
struct ThreadNameTests {
    /// The name reaches the kernel (what `top -H` and `perf` show), cut to its 15 bytes.
    @Test("a thread's name is what /proc shows for it")
    func nameReachesTheKernel() {
        let seen = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let named = nameCurrentThread("waddleperf-test-thread")
            let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
            seen.withLock { $0 = named ? comm?.trimmingCharacters(in: .newlines) : nil }
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(seen.withLock { $0 } == "waddleperf-test")
    }
}
