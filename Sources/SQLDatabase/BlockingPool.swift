import Metrics
import Engine
import Foundation
import Synchronization

/// A fixed set of OS threads for blocking work (libsqlite3, libmariadb, bcrypt). Each thread owns
/// a `Resource` that it opens lazily and never shares; async callers enqueue a closure and await
/// the result through a continuation, so blocking calls never occupy the cooperative pool or the
/// HTTP event loops.
package final class BlockingPool<Resource>: Sendable {
    package typealias Factory = @Sendable () throws -> Resource

    // Handed from the caller to exactly one pool thread under the lock.
    private struct Job: @unchecked Sendable {
        let run: (inout Resource?) -> Void
        let fail: (any Error) -> Void
        let enqueued: ContinuousClock.Instant
    }

    private enum Admission { case queued, closed, full }

    private struct State {
        var jobs: [Job] = []
        var head = 0
        var closed = false
    }

    package let size: Int
    package let name: String
    /// Jobs that may wait for a thread; past it a caller gets `ResourceBusy` at once.
    package let maxQueued: Int
    /// A job that waited longer than this for a thread is failed with `ResourceBusy`, not run late.
    package let queueTimeout: Duration?
    private let factory: Factory
    /// Errors after which a thread drops its resource and opens a fresh one for the next job.
    private let discardsResource: @Sendable (any Error) -> Bool
    private let state = Mutex(State())
    /// Records how long each job waited for a thread (`ServerMetrics`).
    package let waitTimer = Mutex<Metrics.Timer?>(nil)
    private let wakeup = NSCondition()
    private let finished = DispatchGroup()

    package init(size: Int, name: String, maxQueued: Int = .max, queueTimeout: Duration? = nil, factory: @escaping Factory,
         discardsResource: @escaping @Sendable (any Error) -> Bool = { _ in false }) {
        precondition(size > 0 && maxQueued > 0)
        self.size = size
        self.name = name
        self.maxQueued = maxQueued
        self.queueTimeout = queueTimeout
        self.factory = factory
        self.discardsResource = discardsResource
        for index in 0..<size {
            finished.enter()
            let threadName = "\(name)-\(index)"
            let thread = Thread { [self] in
                nameCurrentThread(threadName)
                work()
            }
            thread.name = threadName
            thread.start()
        }
    }

    /// Runs `body` on one of the pool's threads with that thread's resource.
    package func run<T: Sendable>(_ body: @escaping @Sendable (Resource) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { [factory, discardsResource] resource in
                    do {
                        if resource == nil { resource = try factory() }
                        continuation.resume(returning: try body(resource!))
                    } catch {
                        if discardsResource(error) { resource = nil }
                        continuation.resume(throwing: error)
                    }
                },
                fail: { continuation.resume(throwing: $0) },
                enqueued: .now
            )
            let admission = state.withLock { state -> Admission in
                guard !state.closed else { return .closed }
                guard state.jobs.count - state.head < maxQueued else { return .full }
                state.jobs.append(job)
                return .queued
            }
            switch admission {
            case .queued: wakeup.lock(); wakeup.signal(); wakeup.unlock()
            case .closed: job.fail(CancellationError())
            case .full: job.fail(ResourceBusy(what: name))
            }
        }
    }

    /// Jobs waiting for a thread now.
    package var queuedJobs: Int { state.withLock { $0.jobs.count - $0.head } }

    /// Finishes queued jobs, then stops the threads and releases their resources.
    package func close() {
        state.withLock { $0.closed = true }
        wakeup.lock(); wakeup.broadcast(); wakeup.unlock()
        finished.wait()
    }

    private func take() -> Job? {
        wakeup.lock()
        defer { wakeup.unlock() }
        while true {
            let taken = state.withLock { state -> Job?? in
                if state.head < state.jobs.count {
                    let job = state.jobs[state.head]
                    state.head += 1
                    if state.head >= 64 && state.head * 2 >= state.jobs.count {
                        state.jobs.removeFirst(state.head)
                        state.head = 0
                    }
                    return .some(job)
                }
                return state.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            wakeup.wait()
        }
    }

    private func work() {
        var resource: Resource?
        while let job = take() {
            let waited = ContinuousClock.now - job.enqueued
            if let timer = waitTimer.withLock({ $0 }) { timer.recordNanoseconds(waited.nanoseconds) }
            if let queueTimeout, waited > queueTimeout {
                job.fail(ResourceBusy(what: name))
                continue
            }
            job.run(&resource)
        }
        resource = nil
        finished.leave()
    }
}

/// The database (or another shared resource) is too busy to take this work now: answered 503 with
/// Retry-After, never queued without bound.
public struct ResourceBusy: Error, Equatable, Sendable, CustomStringConvertible {
    public let what: String
    public init(what: String) { self.what = what }
    public var description: String { "\(what) is busy; retry shortly" }
}
