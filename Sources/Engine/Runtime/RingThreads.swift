import Foundation
import Synchronization

/// Runs `body` once per index on its own OS thread (ring threads must not
/// be pool threads: they block in io_uring_enter) and collects the results.
/// The threads come from `RingThreadPool`: one that finished a run waits a
/// while for the next, with its ring (`RingReuse`).
func onThreads<T: Sendable>(_ count: Int, name: String,
                            _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
    let state = Mutex<(results: [T?], error: Error?, remaining: Int)>((Array(repeating: nil, count: count), nil, count))
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        for index in 0..<count {
            RingThreadPool.shared.start(name: "\(name)-\(index)") {
                var value: T? = nil
                var failure: Error? = nil
                do { value = try body(index) } catch { failure = error }
                let outcome = state.withLock { s -> (Bool, Error?) in
                    s.results[index] = value
                    if s.error == nil { s.error = failure }
                    s.remaining -= 1
                    return (s.remaining == 0, s.error)
                }
                if outcome.0 {
                    if let e = outcome.1 { continuation.resume(throwing: e) } else { continuation.resume() }
                }
            }
        }
    }
    return state.withLock { $0.results.map { $0! } }
}

/// OS threads for ring runs, kept after a run for the next one. A run never
/// waits for a thread: with none idle, a new one starts. A thread idle for
/// `idleTimeout` ends, and at most `maxIdle` stay idle at once.
final class RingThreadPool: @unchecked Sendable {
    static let shared = RingThreadPool(maxIdle: 8, idleTimeout: 30)

    let maxIdle: Int
    let idleTimeout: TimeInterval
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var idle = 0
    private var queued: [(name: String, job: @Sendable () -> Void)] = []

    init(maxIdle: Int, idleTimeout: TimeInterval) {
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    /// Threads waiting for a run now (for tests).
    var idleThreads: Int {
        condition.lock()
        defer { condition.unlock() }
        return idle
    }

    func start(name: String, _ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if idle > queued.count {
            queued.append((name, job))
            condition.signal()
            condition.unlock()
            return
        }
        condition.unlock()
        let thread = Thread { [self] in work(name: name, job) }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func work(name: String, _ first: @escaping @Sendable () -> Void) {
        var next: (name: String, job: @Sendable () -> Void)? = (name, first)
        while let (name, job) = next {
            nameCurrentThread(name)
            job()
            next = nil
            condition.lock()
            guard idle < maxIdle else {
                condition.unlock()
                return
            }
            idle += 1
            let deadline = Date(timeIntervalSinceNow: idleTimeout)
            while queued.isEmpty {
                if !condition.wait(until: deadline) && queued.isEmpty { break }
            }
            idle -= 1
            if !queued.isEmpty { next = queued.removeFirst() }
            condition.unlock()
        }
    }
}

/// The fan-out of a run over its ring threads, and the merge, written once.
/// Thread `t` of `T` takes items t, t+T, t+2T, ... (interleaved: a sorted
/// sweep spreads evenly); `body` gets its thread index and its items'
/// indices and returns one output per item, in that order. The answer holds
/// every item's output in item order, and each thread's extra value.
func onThreads<Output: Sendable, Extra: Sendable>(
    sharing items: Int, threads: Int, name: String,
    _ body: @escaping @Sendable (_ thread: Int, _ indices: [Int]) throws -> (outputs: [Output], extra: Extra)
) async throws -> (outputs: [Output], extras: [Extra]) {
    let threadCount = max(1, min(threads, items))
    let perThread = try await onThreads(threadCount, name: name) { t in
        let indices = Array(stride(from: t, to: items, by: threadCount))
        let share = try body(t, indices)
        precondition(share.outputs.count == indices.count, "one output per item")
        return (indices, share)
    }
    var outputs: [Output?] = Array(repeating: nil, count: items)
    for (indices, share) in perThread {
        for (i, output) in zip(indices, share.outputs) { outputs[i] = output }
    }
    return (outputs.map { $0! }, perThread.map(\.1.extra))
}
