import Engine
import Foundation
import ProbeModel
import SQLDatabase

/// The agent's durable queue of result documents: a SQLite database in WAL mode in the state
/// directory. A result counts as produced once `append` has committed it, so a crash (`kill -9`)
/// loses nothing that was appended.
///
/// Uploads take a *batch*: the oldest results, recorded with an idempotency key before they are
/// sent. Until the server acknowledges it, every attempt (after a restart too) sends the same
/// rows, in the same bytes, under the same key, so the server stores them once.
///
/// Bounded by bytes and by age: beyond either, the oldest results are dropped (except the batch
/// being uploaded, which must stay what its key says) and counted in `droppedResults`, which
/// the heartbeat and the agent's log report.
public final class ResultBuffer: Sendable {
    public struct Limits: Sendable {
        public var maxBytes: Int64 = 256 << 20
        /// Results older than this are dropped (ms); nil keeps them until space runs out.
        public var maxAgeMilliseconds: Int64? = 7 * 24 * 3600 * 1000
        public init() {}
    }

    public struct Statistics: Sendable, Equatable {
        public var results: Int64
        public var bytes: Int64
        /// `created_at` of the oldest buffered result (ms since the epoch).
        public var oldestCreatedAt: Int64?
        /// Dropped since the buffer was made: full, or too old.
        public var dropped: Int64
        public var appended: Int64
        public var uploaded: Int64
        public var lastUploadAt: Int64?
    }

    /// A batch on its way to the server: its key, its request body and its rows' range.
    public struct Batch: Sendable, Equatable {
        public var key: String
        public var firstSeq: Int64
        public var lastSeq: Int64
        public var count: Int
        /// `{"results":[...]}`, the stored documents in order: the same bytes on every attempt.
        public var body: [UInt8]
    }

    private let thread: BlockingPool<any SQLConnection>
    public let limits: Limits
    public let path: String

    /// Opens (or creates) `directory/buffer.db`.
    public init(directory: String, limits: Limits = Limits()) async throws {
        let path = directory + "/buffer.db"
        self.path = path
        self.limits = limits
        thread = BlockingPool(size: 1, name: "agent-buffer", factory: { try SQLiteConnection(path: path) })
        try await thread.run { c in
            try c.execute("""
                CREATE TABLE IF NOT EXISTS results (
                  seq INTEGER PRIMARY KEY AUTOINCREMENT, check_id TEXT NOT NULL, created_at INTEGER NOT NULL,
                  bytes INTEGER NOT NULL, doc TEXT NOT NULL)
                """)
            try c.execute("CREATE INDEX IF NOT EXISTS results_created ON results(created_at)")
            try c.execute("CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY CHECK (id = 1), idem_key TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL)")
            try c.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            // A random identity for this buffer's keys: two agents' batches never share one.
            try c.execute("INSERT OR IGNORE INTO counters (name, value) VALUES ('instance', abs(random()))")
        }
    }

    public func close() { thread.close() }

    /// Commits `documents` (one transaction), then applies the bounds. `checkIDs[i]` names the
    /// check of `documents[i]`.
    public func append(_ documents: [ResultDocument], checkIDs: [String]) async throws {
        guard !documents.isEmpty else { return }
        let rows = try documents.map { String(decoding: try $0.jsonBytes(), as: UTF8.self) }
        let limits = self.limits
        try await thread.run { c in
            try c.transaction {
                for (i, text) in rows.enumerated() {
                    try c.execute("INSERT INTO results (check_id, created_at, bytes, doc) VALUES (?, ?, ?, ?)",
                                  [.text(checkIDs[i]), .int(documents[i].createdAt ?? 0), .int(Int64(text.utf8.count)), .text(text)])
                }
                try Self.bump(c, "appended", by: Int64(rows.count))
                try Self.bump(c, "bytes", by: Int64(rows.reduce(0) { $0 + $1.utf8.count }))
                try Self.enforce(limits, on: c, now: Int64(Date().timeIntervalSince1970 * 1000))
            }
        }
    }

    /// The batch to send: the pending one if there is one (an earlier attempt's, maybe before a
    /// restart), else the oldest results, at most `maxResults` and about `maxBytes` (at least
    /// one), recorded with a new key first. nil when the buffer is empty.
    public func nextBatch(maxResults: Int = 10_000, maxBytes: Int = 8 << 20) async throws -> Batch? {
        try await thread.run { c in
            try c.transaction {
                if let pending = try c.query("SELECT idem_key, first_seq, last_seq FROM batch WHERE id = 1").first {
                    let first = pending.int("first_seq") ?? 0, last = pending.int("last_seq") ?? 0
                    return try Self.batch(c, key: pending.string("idem_key") ?? "", first: first, last: last)
                }
                var last: Int64?, count = 0, bytes = 0, full = false
                try c.scan("SELECT seq, bytes FROM results ORDER BY seq LIMIT ?", [.int(Int64(maxResults))], columns: { _ in }) { row in
                    let size = Int(row.int(1) ?? 0)
                    guard !full else { return }
                    if count > 0 && bytes + size > maxBytes { full = true; return }
                    last = row.int(0)
                    count += 1
                    bytes += size + 1
                }
                guard let last, let first = try c.scalar("SELECT MIN(seq) FROM results") else { return nil }
                let instance = try c.scalar("SELECT value FROM counters WHERE name = 'instance'") ?? 0
                let key = "wp-\(String(UInt64(bitPattern: instance), radix: 36))-\(first)-\(last)"
                try c.execute("INSERT INTO batch (id, idem_key, first_seq, last_seq) VALUES (1, ?, ?, ?)", [.text(key), .int(first), .int(last)])
                return try Self.batch(c, key: key, first: first, last: last)
            }
        }
    }

    /// The server stored `batch`: its rows leave the buffer.
    public func acknowledge(_ batch: Batch, at now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws {
        try await thread.run { c in
            try c.transaction {
                try Self.delete(c, "seq BETWEEN ? AND ?", [.int(batch.firstSeq), .int(batch.lastSeq)])
                try c.execute("DELETE FROM batch WHERE id = 1")
                try Self.bump(c, "uploaded", by: Int64(batch.count))
                try c.execute("INSERT INTO counters (name, value) VALUES ('last_upload_at', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                              [.int(now)])
            }
        }
    }

    /// The server refused `batch` for good (not a transient error): its rows are dropped and
    /// counted, so one bad batch does not hold up the rest.
    public func discard(_ batch: Batch) async throws {
        try await thread.run { c in
            try c.transaction {
                try Self.delete(c, "seq BETWEEN ? AND ?", [.int(batch.firstSeq), .int(batch.lastSeq)])
                try c.execute("DELETE FROM batch WHERE id = 1")
                try Self.bump(c, "dropped", by: Int64(batch.count))
            }
        }
    }

    /// Applies the age bound now (appends apply both bounds).
    public func expire(now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws {
        let limits = self.limits
        try await thread.run { c in try c.transaction { try Self.enforce(limits, on: c, now: now) } }
    }

    public func statistics() async throws -> Statistics {
        try await thread.run { c in
            let totals = try c.query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM results").first
            func counter(_ name: String) throws -> Int64? { try c.scalar("SELECT value FROM counters WHERE name = ?", [.text(name)]) }
            return Statistics(results: totals?.int("n") ?? 0, bytes: try counter("bytes") ?? 0, oldestCreatedAt: totals?.int("oldest"),
                              dropped: try counter("dropped") ?? 0, appended: try counter("appended") ?? 0,
                              uploaded: try counter("uploaded") ?? 0, lastUploadAt: try counter("last_upload_at"))
        }
    }

    // MARK: On the buffer's thread

    private static func bump(_ c: any SQLConnection, _ name: String, by n: Int64) throws {
        try c.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                      [.text(name), .int(n)])
    }

    private static func batch(_ c: any SQLConnection, key: String, first: Int64, last: Int64) throws -> Batch {
        var body = Array(#"{"results":["#.utf8)
        var count = 0
        try c.scan("SELECT doc FROM results WHERE seq BETWEEN ? AND ? ORDER BY seq", [.int(first), .int(last)], columns: { _ in }) { row in
            if count > 0 { body.append(UInt8(ascii: ",")) }
            row.withText(0) { text in if let text { body.append(contentsOf: text) } }
            count += 1
        }
        body.append(contentsOf: "]}".utf8)
        return Batch(key: key, firstSeq: first, lastSeq: last, count: count, body: body)
    }

    /// Deletes the rows matching `condition` and takes their bytes off the total; how many.
    @discardableResult
    private static func delete(_ c: any SQLConnection, _ condition: String, _ binds: [SQLValue]) throws -> Int64 {
        let bytes = try c.scalar("SELECT COALESCE(SUM(bytes), 0) FROM results WHERE " + condition, binds) ?? 0
        let n = try c.execute("DELETE FROM results WHERE " + condition, binds).affectedRows
        try bump(c, "bytes", by: -bytes)
        return n
    }

    /// Drops the results past the age bound and the oldest beyond the byte bound, sparing the
    /// pending batch's rows. Counts what it drops.
    private static func enforce(_ limits: Limits, on c: any SQLConnection, now: Int64) throws {
        let protected = try c.scalar("SELECT last_seq FROM batch WHERE id = 1") ?? 0
        var dropped: Int64 = 0
        if let age = limits.maxAgeMilliseconds {
            dropped += try delete(c, "created_at < ? AND seq > ?", [.int(now - age), .int(protected)])
        }
        var total = try c.scalar("SELECT value FROM counters WHERE name = 'bytes'") ?? 0
        while total > limits.maxBytes {
            // The oldest unprotected rows that bring the total under the bound.
            let excess = total - limits.maxBytes
            var cut: Int64?, freed: Int64 = 0
            try c.scan("SELECT seq, bytes FROM results WHERE seq > ? ORDER BY seq LIMIT 10000", [.int(protected)], columns: { _ in }) { row in
                guard freed < excess else { return }
                freed += row.int(1) ?? 0
                cut = row.int(0)
            }
            guard let cut else { break }
            dropped += try delete(c, "seq > ? AND seq <= ?", [.int(protected), .int(cut)])
            total -= freed
        }
        if dropped > 0 { try bump(c, "dropped", by: dropped) }
    }
}
