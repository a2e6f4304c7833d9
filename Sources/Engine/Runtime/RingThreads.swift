import Foundation
import Synchronization

/// Runs `body` once per index on its own OS thread (ring threads must not
/// be pool threads: they block in io_uring_enter) and collects the results.
func onThreads<T: Sendable>(_ count: Int, name: String,
                            _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
    let state = Mutex<(results: [T?], error: Error?, remaining: Int)>((Array(repeating: nil, count: count), nil, count))
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        for index in 0..<count {
            let thread = Thread {
                nameCurrentThread("\(name)-\(index)")
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
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
    return state.withLock { $0.results.map { $0! } }
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
