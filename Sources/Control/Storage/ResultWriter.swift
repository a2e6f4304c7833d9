import Metrics
import Engine
import Foundation
import ServiceLifecycle
import Synchronization
import SQLDatabase

public enum ResultWriterError: Error, Equatable, Sendable {
    /// The queue holds more rows than the configured bound: the sender should retry later.
    case overloaded
    /// The writer is stopping (or stopped) and could not commit these rows.
    case unavailable(String)
    /// These rows were rejected by the database on their own (not because of other rows).
    case rejected(String)
}

/// Groups submitted results into batches written in one transaction each (Connector/C bulk array
/// binding on MariaDB, multi-row INSERTs on SQLite), on its own
/// thread with its own connection. A batch is flushed when it reaches `maxBatchRows` or when its
/// oldest row has waited `maxDelay`. Every `write` returns only after its rows are committed;
/// a batch that fails on a connection error is retried with back-off, one that the database
/// refuses is split so only the offending submission fails (and says why). `drain()` (or the end
/// of `run()`, as a service) commits what is queued and stops the threads.
public final class ResultWriter: Sendable {
    public struct Configuration: Sendable {
        public var maxBatchRows = 5_000
        public var maxDelay: Duration = .milliseconds(5)
        public var maxQueuedRows = 500_000
        public var rowsPerStatement = 500
        public init() {}
    }

    private struct Submission: Sendable {
        let rows: [ResultRow]
        /// Committed in the same transaction as the rows: a second submission with the same key
        /// fails alone (a unique violation), and the sender learns the first one's answer.
        let key: UploadKey?
        let continuation: CheckedContinuation<Int64, any Error>
    }

    private struct State {
        var queue: BatchQueue<Submission>
        var stopped = false
        /// A batch ran out of retries while stopping: the database is gone, fail the rest at once.
        var gaveUpWhileStopping = false
        /// Resumed once the threads have committed what was queued and stopped.
        var drained: [CheckedContinuation<Void, Never>] = []
        var committedRows: Int64 = 0
        var committedBatches: Int64 = 0
        var retries: Int64 = 0
    }

    public struct Statistics: Sendable {
        public var committedRows: Int64
        public var committedBatches: Int64
        public var retries: Int64
        public var queuedRows: Int
    }

    private let configuration: Configuration
    /// The INSERT for a full chunk of `rowsPerStatement` rows, built once.
    private let fullStatement: String
    private let connect: @Sendable () throws -> any SQLConnection
    private let committed: @Sendable () -> Void
    private let state: Mutex<State>
    /// Records each committed batch's rows (`ServerMetrics`).
    let batchRecorder = Mutex<Recorder?>(nil)
    private let condition = NSCondition()
    /// MariaDB: a batch is laid out for bulk binding on one thread while the writer thread
    /// inserts and commits the one before (the server otherwise waited ~2 µs a row for it).
    private let pipelined: Bool
    private let handoff = Handoff()
    private let series = SeriesResolver()

    public convenience init(store: Store, configuration: Configuration = .init()) {
        self.init(configuration: configuration, pipelined: store.dialect == .mariadb, committed: store.resultsChanged) { try store.makeConnection() }
    }

    /// `committed` runs on the writer thread after each commit, before any submitter is answered.
    init(configuration: Configuration, pipelined: Bool = false, committed: @escaping @Sendable () -> Void = {},
         connect: @escaping @Sendable () throws -> any SQLConnection) {
        self.configuration = configuration
        self.committed = committed
        self.state = Mutex(State(queue: BatchQueue(limits: .init(maxBatchRows: configuration.maxBatchRows, maxDelay: configuration.maxDelay,
                                                                 maxQueuedRows: configuration.maxQueuedRows))))
        self.fullStatement = Self.insertStatement(rows: configuration.rowsPerStatement)
        self.connect = connect
        self.pipelined = pipelined
        let thread = Thread { [self] in
            nameCurrentThread("result-writer")
            run()
        }
        thread.name = "result-writer"
        thread.start()
        if pipelined {
            let binder = Thread { [self] in
                nameCurrentThread("result-binder")
                bind()
            }
            binder.name = "result-binder"
            binder.start()
        }
    }

    /// A batch on its way to the writer thread, laid out for bulk binding when that worked.
    private struct Prepared: @unchecked Sendable {
        let batch: [Submission]
        let payload: BulkPayload?
    }

    /// One prepared batch at a time between the binder and the writer thread.
    private final class Handoff: @unchecked Sendable {
        private let condition = NSCondition()
        private var item: Prepared?
        private var finished = false

        func put(_ prepared: Prepared) {
            condition.lock()
            while item != nil { condition.wait() }
            item = prepared
            condition.broadcast()
            condition.unlock()
        }

        func finish() {
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }

        /// The next batch; nil once the binder has finished and nothing is left.
        func take() -> Prepared? {
            condition.lock()
            defer { condition.unlock() }
            while item == nil && !finished { condition.wait() }
            let prepared = item
            item = nil
            condition.broadcast()
            return prepared
        }
    }

    public var statistics: Statistics {
        state.withLock { Statistics(committedRows: $0.committedRows, committedBatches: $0.committedBatches, retries: $0.retries, queuedRows: $0.queue.queuedRows) }
    }

    /// Queues `rows` and returns once they are committed, with the id of the last row inserted.
    /// `key` is committed with them (see `UploadKey`).
    @discardableResult
    public func write(_ rows: [ResultRow], key: UploadKey? = nil) async throws -> Int64 {
        if rows.isEmpty { return 0 }
        return try await withCheckedThrowingContinuation { continuation in
            let admission = state.withLock { state in
                state.queue.append(Submission(rows: rows, key: key, continuation: continuation), rows: rows.count, at: .now)
            }
            switch admission {
            case .accepted: condition.lock(); condition.signal(); condition.unlock()
            case .overloaded: continuation.resume(throwing: ResultWriterError.overloaded)
            case .stopping: continuation.resume(throwing: ResultWriterError.unavailable("the result writer is shutting down"))
            }
        }
    }

    /// Stops accepting rows and returns once everything queued is committed and the threads
    /// have stopped. Safe to call more than once, and from several tasks.
    public func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = state.withLock { state -> Bool in
                state.queue.stop()
                if !state.stopped { state.drained.append(continuation) }
                return state.stopped
            }
            if stopped { continuation.resume() }
            condition.lock(); condition.broadcast(); condition.unlock()
        }
    }

    /// Takes the next batch: waits for rows, then for the batch to fill or its oldest row to age
    /// (`BatchQueue` decides). nil once stopped and drained.
    private func nextBatch() -> [Submission]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            switch state.withLock({ $0.queue.next(now: .now) }) {
            case .batch(let batch): return batch
            case .finished: return nil
            case .idle: condition.wait()
            case .wait(let deadline):
                let remaining = ContinuousClock.now.duration(to: deadline)
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(remaining.inSeconds, 0)))
            }
        }
    }

    private func run() {
        var connection: (any SQLConnection)?
        while let next = pipelined ? handoff.take() : nextBatch().map({ Prepared(batch: $0, payload: nil) }) {
            commit(next.batch, payload: next.payload, connection: &connection)
        }
        connection = nil
        let waiting = state.withLock { state in
            state.stopped = true
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in waiting { continuation.resume() }
    }

    /// The binder thread (MariaDB): takes batches as they form and lays them out while the
    /// writer thread commits the one before. A batch it cannot lay out goes on without a
    /// payload; the writer thread then finds and reports the offending submission.
    /// A series not yet cached is resolved on the binder's own connection, opened when first needed.
    private func bind() {
        var connection: (any SQLConnection)?
        while let batch = nextBatch() {
            var payload: BulkPayload?
            do {
                let ids = try series.ids(for: batch.map(\.rows)) {
                    if connection == nil { connection = try connect() }
                    return connection!
                }
                payload = Self.payload(for: batch, series: ids)
            } catch {
                if connection != nil { series.forget() }
                connection = nil
            }
            handoff.put(Prepared(batch: batch, payload: payload))
        }
        handoff.finish()
    }

    /// The batch's rows laid out for bulk binding, column by column.
    private static func payload(for batch: [Submission], series: [Int64]) -> BulkPayload {
        let payload = BulkPayload(types: ResultRow.columnTypes, rows: series.count, textBytes: series.count * 64)
        let receivedAt = WallClock.nowMillis()
        var index = 0
        for submission in batch {
            for row in submission.rows.indices {
                var writer = BulkPayload.RowWriter(payload: payload, row: index)
                submission.rows[row].encode(into: &writer, receivedAt: receivedAt, seriesID: series[index])
                index += 1
            }
        }
        return payload
    }

    private func commit(_ batch: [Submission], payload: BulkPayload? = nil, connection: inout (any SQLConnection)?) {
        var attempt = 0
        while true {
            do {
                if connection == nil { connection = try connect() }
                let lastID = try insert(batch, payload: payload, on: connection!)
                let rows = batch.reduce(0) { $0 + $1.rows.count }
                state.withLock { $0.committedRows += Int64(rows); $0.committedBatches += 1 }
                batchRecorder.withLock { $0 }?.record(rows)
                committed()
                // Each submission learns the last id of the whole batch: its rows are all at or below it.
                for submission in batch { submission.continuation.resume(returning: lastID) }
                return
            } catch let error as SQLError where error.kind == .connection || isTransient(error) {
                if error.kind == .connection { series.forget() }
                connection = nil
                attempt += 1
                state.withLock { $0.retries += 1 }
                // Stopping with the database gone: one batch gets its retries (about half a minute);
                // once one has used them up, the rest of the queue fails at once, so a shutdown ends.
                let (stopping, givenUp) = state.withLock { ($0.queue.stopping, $0.gaveUpWhileStopping) }
                if stopping && (givenUp || attempt > 20) {
                    state.withLock { $0.gaveUpWhileStopping = true }
                    for submission in batch { submission.continuation.resume(throwing: ResultWriterError.unavailable(error.description)) }
                    return
                }
                Thread.sleep(forTimeInterval: min(0.05 * Double(1 << min(attempt, 6)), 2.0))
            } catch {
                // The database refused the batch. Retry submissions one by one so only the
                // offending one fails, with the reason.
                if batch.count == 1 {
                    batch[0].continuation.resume(throwing: ResultWriterError.rejected(String(describing: error)))
                    return
                }
                for submission in batch { commit([submission], connection: &connection) }
                return
            }
        }
    }

    static func insertStatement(columns: [String] = ResultRow.columns, rows: Int) -> String {
        "INSERT INTO test_results (\(columns.joined(separator: ", "))) VALUES " + valueRows(columns.count, rows: rows)
    }

    private func isTransient(_ error: SQLError) -> Bool {
        // MariaDB deadlock / lock wait timeout, SQLite busy / locked.
        [1205, 1213, 5, 6].contains(error.code)
    }

    /// The single-row INSERT of a payload's present columns, which bulk binding executes for
    /// many rows. Built once per set of columns (writer thread only).
    private nonisolated(unsafe) var bulkStatements: [UInt64: String] = [:]

    private func bulkStatement(for payload: BulkPayload) -> String {
        if let sql = bulkStatements[payload.presentMask] { return sql }
        let sql = Self.insertStatement(columns: payload.presentColumns.map { ResultRow.columns[$0] }, rows: 1)
        if bulkStatements.count >= 64 { bulkStatements.removeAll() }
        bulkStatements[payload.presentMask] = sql
        return sql
    }

    private func insert(_ batch: [Submission], payload: BulkPayload?, on connection: any SQLConnection) throws -> Int64 {
        if let bulk = connection as? any BulkInserting {
            // MariaDB: one array-bound execution per batch, no SQL text to build or escape.
            let payload = try payload ?? Self.payload(for: batch, series: series.ids(for: batch.map(\.rows)) { connection })
            return try connection.transaction {
                let result = try bulk.bulkInsert(bulkStatement(for: payload), payload)
                // The first row's id; a batch's ids are consecutive (one statement, InnoDB auto-increment lock).
                let lastID = result.lastInsertID + Int64(payload.rows - 1)
                for submission in batch { try submission.key?.store(lastID: lastID, on: connection) }
                return lastID
            }
        }
        // New series are committed on their own, before the batch's transaction.
        let seriesIDs = try series.ids(for: batch.map(\.rows)) { connection }
        let rows = batch.flatMap(\.rows)
        return try connection.transaction {
            var lastID: Int64 = 0
            var start = 0
            var binds: [SQLValue] = []
            binds.reserveCapacity(min(rows.count, configuration.rowsPerStatement) * ResultRow.columns.count)
            let receivedAt = WallClock.nowMillis()
            while start < rows.count {
                let end = min(start + configuration.rowsPerStatement, rows.count)
                binds.removeAll(keepingCapacity: true)
                for index in start..<end { rows[index].encode(into: &binds, receivedAt: receivedAt, seriesID: seriesIDs[index]) }
                let sql = end - start == configuration.rowsPerStatement ? fullStatement : Self.insertStatement(rows: end - start)
                let result = try connection.execute(sql, binds)
                // SQLite reports the last row's id, MariaDB the first row's.
                lastID = connection.dialect == .sqlite ? result.lastInsertID : result.lastInsertID + Int64(end - start - 1)
                start = end
            }
            for submission in batch { try submission.key?.store(lastID: lastID, on: connection) }
            return lastID
        }
    }
}

extension ResultWriter: Service {
    /// As a service the writer runs until graceful shutdown, then commits what is queued.
    /// Stopped after the HTTP server (the group stops services in reverse order), so the
    /// requests still in flight get their rows committed.
    public func run() async throws {
        try? await gracefulShutdown()
        await drain()
    }
}
