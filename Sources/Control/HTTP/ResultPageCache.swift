import NIOCore
import Synchronization

/// Rendered pages of `GET /api/v1/results`, so a page asked for again (a dashboard's refresh, a
/// fleet of viewers on the same OU) is answered without a database trip or rendering.
///
/// A page's content is a function of its query (the caller's scope, the filters, the limit and the
/// cursor) and of `test_results`. Every change to that table made through this server advances
/// `Store.resultsGeneration` after it commits and before anyone is told, and a page is served only
/// while the generation it was rendered under is current: a client never reads a page older than
/// an upload it saw acknowledged, and a deleted result is never served. A render that raced a
/// commit was stamped with the older generation and is not kept.
///
/// What another server of a cluster writes to a shared MariaDB reaches this cache when the page
/// ages out (`results_cache_ttl`, 1 s by default; 0 turns the cache off).
final class ResultPageCache: Sendable {
    /// Everything a page's rows depend on besides the table itself.
    struct Key: Hashable, Sendable {
        var ouIDs: [Int64]?
        var userID: Int64?
        var deviceID: Int64?
        var testType: String?
        var target: String?
        var since: Int64?
        var until: Int64?
        var beforeID: Int64?
        var limit: Int

        init(_ filter: ResultFilter) {
            ouIDs = filter.ouIDs?.sorted()
            userID = filter.userID
            deviceID = filter.deviceID
            testType = filter.testType
            target = filter.target
            since = filter.since
            until = filter.until
            beforeID = filter.beforeID
            limit = filter.limit
        }
    }

    private struct Entry {
        var body: ByteBuffer
        var generation: UInt64
        /// Milliseconds since the epoch after which the page is not served.
        var expiresAt: Int64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var hits: UInt64 = 0
        var misses: UInt64 = 0
    }

    let maxEntries: Int
    let maxBytes: Int
    let maxAgeMillis: Int64
    private let state = Mutex(State())

    init(maxAge: Duration, maxEntries: Int = 1_024, maxBytes: Int = 32 << 20) {
        self.maxAgeMillis = maxAge.milliseconds
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    var enabled: Bool { maxAgeMillis > 0 && maxEntries > 0 && maxBytes > 0 }

    /// Pages served from the cache, and pages asked for that were not (and so rendered), since the start.
    var counts: (hits: UInt64, misses: UInt64) { state.withLock { ($0.hits, $0.misses) } }

    /// The page for `key` if it was rendered under `generation` (the store's current one) and has
    /// not aged out.
    /// A miss is counted whether or not the cache is on: the caller renders the page either way.
    func lookup(_ key: Key, generation: UInt64, now: Int64) -> ByteBuffer? {
        let enabled = self.enabled
        return state.withLock { state in
            guard enabled, let entry = state.entries[key], entry.generation == generation, now < entry.expiresAt else {
                state.misses += 1
                return nil
            }
            state.hits += 1
            return entry.body
        }
    }

    /// Keeps a page rendered under `generation`, unless the store has moved on since (`current`)
    /// or the page alone is over the byte bound. When full, pages of older generations go first,
    /// then the oldest half of the rest.
    func insert(_ key: Key, _ body: ByteBuffer, generation: UInt64, current: UInt64, now: Int64) {
        guard enabled, generation == current, body.readableBytes <= maxBytes / 8 else { return }
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: key) { state.bytes -= old.body.readableBytes }
            if state.entries.count >= maxEntries || state.bytes + body.readableBytes > maxBytes {
                state.entries = state.entries.filter { $0.value.generation == current && now < $0.value.expiresAt }
                if state.entries.count >= maxEntries || state.bytes + body.readableBytes > maxBytes {
                    let kept = state.entries.sorted { $0.value.expiresAt > $1.value.expiresAt }.prefix(state.entries.count / 2)
                    state.entries = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
                }
                state.bytes = state.entries.values.reduce(0) { $0 + $1.body.readableBytes }
            }
            state.entries[key] = Entry(body: body, generation: generation, expiresAt: now + maxAgeMillis)
            state.bytes += body.readableBytes
        }
    }
}
