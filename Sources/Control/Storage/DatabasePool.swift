import Metrics
import SQLDatabase
/// Database threads, each owning one blocking `SQLConnection` (see `BlockingPool`). A connection
/// that reports a connection-level error is dropped and reopened by the thread's next job.
///
/// Bounded: at most `limits.maxQueued` jobs wait for a thread, none longer than
/// `limits.queueTimeout`, and heavy reads (statistics, result listings) hold at most all threads
/// but one, so credential checks and writes always find a thread. Past a bound the caller gets
/// `ResourceBusy` (503 with Retry-After), not an ever longer wait.
public final class DatabasePool: Sendable {
    public struct Limits: Sendable {
        public var maxQueued = 1024
        public var queueTimeout: Duration = .seconds(10)
        /// Heavy reads that may wait for one of their threads.
        public var maxHeavyWaiting = 64
        public init() {}
    }

    public let dialect: SQLDialect
    private let threads: BlockingPool<any SQLConnection>
    let heavy: AdmissionGate

    public init(dialect: SQLDialect, size: Int, name: String, limits: Limits = Limits(),
                factory: @escaping @Sendable () throws -> any SQLConnection) {
        self.dialect = dialect
        threads = BlockingPool(size: size, name: name, maxQueued: limits.maxQueued, queueTimeout: limits.queueTimeout, factory: factory) { error in
            (error as? SQLError)?.kind == .connection
        }
        heavy = AdmissionGate(permits: max(1, size - 1), maxWaiting: limits.maxHeavyWaiting, timeout: limits.queueTimeout,
                              name: "the database (heavy reads)")
    }

    /// Records each job's wait for a database thread in `timer`.
    func observeWaits(_ timer: Metrics.Timer) { threads.waitTimer.withLock { $0 = timer } }

    /// `withConnection` for a read that may take long (a scan or an aggregate over many rows).
    public func withHeavyConnection<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await heavy.run { try await withConnection(body) }
    }

    /// Runs `body` on a database thread with its connection, opening (or reopening) it first.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        do {
            return try await threads.run(body)
        } catch is CancellationError {
            throw SQLError(kind: .connection, code: -1, message: "database pool is closed")
        }
    }

    /// Runs `body` inside one transaction.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await withConnection { connection in try connection.transaction { try body(connection) } }
    }

    public func close() { threads.close() }
}
