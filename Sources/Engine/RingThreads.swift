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
