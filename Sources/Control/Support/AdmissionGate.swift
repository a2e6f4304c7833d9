import SQLDatabase
import Synchronization

/// At most `permits` callers inside at once; up to `maxWaiting` more wait, each at most `timeout`;
/// beyond that a caller is refused at once. Used so that heavy reads (statistics, listings) can
/// never take every database thread: credential checks and writes always find one.
final class AdmissionGate: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }

    let permits: Int
    let maxWaiting: Int
    let timeout: Duration
    let name: String
    private let state: Mutex<State>

    init(permits: Int, maxWaiting: Int, timeout: Duration, name: String) {
        precondition(permits > 0 && maxWaiting >= 0)
        self.permits = permits
        self.maxWaiting = maxWaiting
        self.timeout = timeout
        self.name = name
        state = Mutex(State(available: permits))
    }

    /// Runs `body` holding a permit.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    private enum Admission { case enter, refuse, wait(UInt64) }

    private func acquire() async throws {
        // The usual case takes a permit without suspending (a continuation would cost the task a
        // trip through its executor on every heavy read).
        let entered = state.withLock { state -> Bool in
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
        if entered { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let admission = state.withLock { state -> Admission in
                if state.available > 0 {
                    state.available -= 1
                    return .enter
                }
                guard state.waiters.count < maxWaiting else { return .refuse }
                state.nextID += 1
                state.waiters.append((state.nextID, continuation))
                return .wait(state.nextID)
            }
            switch admission {
            case .enter: continuation.resume()
            case .refuse: continuation.resume(throwing: ResourceBusy(what: name))
            case .wait(let id):
                let timeout = self.timeout
                Task { [self] in
                    try? await Task.sleep(for: timeout)
                    let expired = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                        return state.waiters.remove(at: index).continuation
                    }
                    expired?.resume(throwing: ResourceBusy(what: name))
                }
            }
        }
    }

    /// Hands the permit to the longest waiter, or returns it.
    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }

    /// Callers inside and waiting (for tests and metrics).
    var load: (inside: Int, waiting: Int) {
        state.withLock { (permits - $0.available, $0.waiters.count) }
    }
}
