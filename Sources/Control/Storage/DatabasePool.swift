/// Database threads, each owning one blocking `SQLConnection` (see `BlockingPool`). A connection
/// that reports a connection-level error is dropped and reopened by the thread's next job.
public final class DatabasePool: Sendable {
    public let dialect: SQLDialect
    private let threads: BlockingPool<any SQLConnection>

    public init(dialect: SQLDialect, size: Int, name: String, factory: @escaping @Sendable () throws -> any SQLConnection) {
        self.dialect = dialect
        threads = BlockingPool(size: size, name: name, factory: factory) { error in
            (error as? SQLError)?.kind == .connection
        }
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
