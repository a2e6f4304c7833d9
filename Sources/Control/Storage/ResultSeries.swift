import Synchronization
import SQLDatabase

/// What result reads filter on, as one key: scope (OU, user), device, test type and target. Each
/// distinct key is a row of `result_series`; results carry its id, and the one
/// `(series_id, created_at)` index on `test_results` serves every filter through it.
///
/// Texts compare by their bytes, as the database does (Swift's `==` on `String` would make
/// canonically equivalent spellings one key).
struct SeriesKey: Hashable, Sendable {
    let ouID: Int64
    let userID: Int64
    let deviceID: Int64
    let testType: String
    let target: String

    /// Absent ids are stored as 0 (real ids start at 1), so the unique key sees them as equal.
    init(_ row: borrowing ResultRow) {
        ouID = row.ouID ?? 0
        userID = row.userID ?? 0
        deviceID = row.deviceID ?? 0
        testType = row.testType
        target = row.target
    }

    static func == (a: SeriesKey, b: SeriesKey) -> Bool {
        a.ouID == b.ouID && a.userID == b.userID && a.deviceID == b.deviceID
            && a.testType.utf8.elementsEqual(b.testType.utf8) && a.target.utf8.elementsEqual(b.target.utf8)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(ouID)
        hasher.combine(userID)
        hasher.combine(deviceID)
        Self.combine(testType, into: &hasher)
        Self.combine(target, into: &hasher)
    }

    private static func combine(_ text: String, into hasher: inout Hasher) {
        var text = text
        hasher.combine(text.utf8.count)
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    var binds: [SQLValue] { [.text(target), .text(testType), .int(ouID), .int(userID), .int(deviceID)] }
}

/// Maps results to their series ids: a bounded cache in front of `result_series`. A key not yet
/// cached is looked up, and inserted if new, in autocommitted statements of its own, so an id in
/// the cache always names a committed series whatever happens to the batch that needed it.
final class SeriesResolver: Sendable {
    /// Two generations: new keys go to `young`; when it is full it becomes `old` and the old
    /// one is dropped, and a key found in `old` moves back to `young`. Series in use stay
    /// cached however many others pass through (a fleet larger than the cache does not thrash
    /// it), in at most `capacity` entries (~120 bytes each).
    private struct Generations {
        var young: [SeriesKey: Int64] = [:]
        var old: [SeriesKey: Int64] = [:]

        mutating func id(for key: SeriesKey, half: Int) -> Int64? {
            if let id = young[key] { return id }
            guard let id = old.removeValue(forKey: key) else { return nil }
            insert(key, id, half: half)
            return id
        }

        mutating func insert(_ key: SeriesKey, _ id: Int64, half: Int) {
            if young.count >= half {
                old = young
                young = [:]
            }
            young[key] = id
        }
    }

    private let cache = Mutex(Generations())
    private let half: Int

    init(capacity: Int = 1 << 18) {
        self.half = max(capacity / 2, 1)
    }

    /// Keys resolved per statement: a workload whose every result names a new target (random
    /// DNS names, unique URLs) makes a series a row, so misses travel in chunks, not one by one.
    static let chunk = 200

    /// Drops every cached id: after a lost connection the database may not be the one that
    /// handed them out (a failover, a restore), and a stale id could name another key's series.
    func forget() {
        cache.withLock { $0 = Generations() }
    }

    /// The series id of every row of `groups`, in order. `connection` is asked for only when a
    /// key is not cached; every such key is then resolved in the database's own terms of equality.
    func ids(for groups: [[ResultRow]], connection: () throws -> any SQLConnection) throws -> [Int64] {
        var ids = [Int64](repeating: 0, count: groups.reduce(0) { $0 + $1.count })
        var missing: [SeriesKey: [Int]] = [:]
        cache.withLock { cache in
            var index = 0
            for rows in groups {
                for row in rows.indices {
                    let key = SeriesKey(rows[row])
                    if let id = cache.id(for: key, half: half) { ids[index] = id } else { missing[key, default: []].append(index) }
                    index += 1
                }
            }
        }
        if missing.isEmpty { return ids }
        let c = try connection()
        var found: [(SeriesKey, Int64)] = []
        found.reserveCapacity(missing.count)
        // One order for every writer, so two servers inserting the same new keys lock them alike.
        let keys = missing.keys.sorted { ($0.target, $0.testType, $0.ouID, $0.userID, $0.deviceID) < ($1.target, $1.testType, $1.ouID, $1.userID, $1.deviceID) }
        for start in stride(from: 0, to: keys.count, by: Self.chunk) {
            let chunk = keys[start..<min(start + Self.chunk, keys.count)]
            // Inserting first leaves existing keys as they are and saves a lookup for new ones
            // (a key is rarely missing from the cache yet stored: after a restart, once).
            try Self.insert(chunk, on: c)
            let known = try Self.lookUp(chunk, on: c)
            for position in chunk.indices {
                guard let id = known[position] else {
                    throw SQLError(kind: .other, code: -1, message: "result series for target \(chunk[position].target) was not stored")
                }
                for index in missing[chunk[position]]! { ids[index] = id }
                found.append((chunk[position], id))
            }
        }
        cache.withLock { cache in
            for (key, id) in found { cache.insert(key, id, half: half) }
        }
        return ids
    }

    /// The stored id of each key that has one, by the key's position, matched by the database
    /// (its collation decides what is equal).
    private static func lookUp(_ keys: ArraySlice<SeriesKey>, on c: any SQLConnection) throws -> [Int: Int64] {
        var binds: [SQLValue] = []
        binds.reserveCapacity(keys.count * 6)
        for position in keys.indices { binds.append(.int(Int64(position))); binds += keys[position].binds }
        let rows = try c.query("""
            WITH k (n, target, test_type, ou_id, user_id, device_id) AS (VALUES \(valueRows(6, rows: keys.count)))
            SELECT k.n, s.id FROM k JOIN result_series s ON s.target = k.target AND s.test_type = k.test_type
              AND s.ou_id = k.ou_id AND s.user_id = k.user_id AND s.device_id = k.device_id
            """, binds)
        var known: [Int: Int64] = [:]
        for row in rows {
            if let position = row.int(at: 0), let id = row.int(at: 1) { known[Int(position)] = id }
        }
        return known
    }

    /// Stores `keys` as series; a key stored meanwhile (another server) is left as it is.
    private static func insert(_ keys: ArraySlice<SeriesKey>, on c: any SQLConnection) throws {
        let now = SQLValue.int(WallClock.nowMillis())
        var binds: [SQLValue] = []
        binds.reserveCapacity(keys.count * 6)
        for key in keys { binds += key.binds; binds.append(now) }
        try c.execute("INSERT INTO result_series (target, test_type, ou_id, user_id, device_id, created_at) VALUES "
                      + valueRows(6, rows: keys.count)
                      + (c.dialect == .sqlite ? " ON CONFLICT DO NOTHING" : " ON DUPLICATE KEY UPDATE id = id"), binds)
    }
}
