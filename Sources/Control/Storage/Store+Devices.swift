import Foundation

// MARK: Models

/// An enrolled agent. Its token (shown once at enrollment) is stored as a SHA-256 hash.
public struct Device: Sendable, Equatable {
    public var id: Int64
    public var serial: String
    public var hostname: String
    public var os: String
    public var osVersion: String
    public var clientType: String
    public var clientVersion: String
    public var ouID: Int64
    public var enrollmentSecretID: Int64?
    public var enrolledAddress: String
    public var active: Bool
    public var enrolledAt: Int64
    public var lastSeenAt: Int64?

    public func status(now: Int64) -> DeviceStatus { DeviceStatus(lastSeen: lastSeenAt, now: now) }
}

/// What an enrolling device says about itself.
public struct DeviceInfo: Sendable, Equatable {
    public var serial: String
    public var hostname: String = ""
    public var os: String = ""
    public var osVersion: String = ""
    public var clientType: String = ""
    public var clientVersion: String = ""
    public init(serial: String) { self.serial = serial }
}

/// How recently a device was heard from: online < 5 min, recent < 1 h, offline < 24 h, stale
/// beyond that or never.
public enum DeviceStatus: String, Sendable, CaseIterable {
    case online, recent, offline, stale

    static let onlineWithin: Int64 = 5 * 60_000
    static let recentWithin: Int64 = 60 * 60_000
    static let offlineWithin: Int64 = 24 * 60 * 60_000

    init(lastSeen: Int64?, now: Int64) {
        guard let lastSeen else { self = .stale; return }
        let age = now - lastSeen
        self = age < Self.onlineWithin ? .online : age < Self.recentWithin ? .recent : age < Self.offlineWithin ? .offline : .stale
    }

    /// The same classification as a SQL condition on `last_seen_at`.
    func condition(now: Int64) -> (String, [SQLValue]) {
        switch self {
        case .online: ("last_seen_at >= ?", [.int(now - Self.onlineWithin)])
        case .recent: ("last_seen_at >= ? AND last_seen_at < ?", [.int(now - Self.recentWithin), .int(now - Self.onlineWithin)])
        case .offline: ("last_seen_at >= ? AND last_seen_at < ?", [.int(now - Self.offlineWithin), .int(now - Self.recentWithin)])
        case .stale: ("(last_seen_at IS NULL OR last_seen_at < ?)", [.int(now - Self.offlineWithin)])
        }
    }
}

public struct DeviceQuery: Sendable {
    /// nil = every OU.
    public var ouIDs: [Int64]?
    public var status: DeviceStatus?
    public var active: Bool?
    /// Substring of serial or hostname.
    public var search: String?
    public var limit = 50
    public var offset = 0
    public init() {}
}

public struct DeviceSummary: Sendable, Equatable {
    public var total: Int64 = 0, active: Int64 = 0, inactive: Int64 = 0
    public var byStatus: [DeviceStatus: Int64] = [:]
}

public struct EnrollmentSecretRecord: Sendable, Equatable {
    public var id: Int64
    public var ouID: Int64
    public var name: String
    public var prefix: String
    public var createdBy: Int64?
    public var createdAt: Int64
    public var expiresAt: Int64?
    public var maxUses: Int64?
    public var uses: Int64
    public var revokedAt: Int64?
}

/// A client configuration document for an OU, or the default one (`ouID == nil`).
public struct ClientConfigRecord: Sendable, Equatable {
    public var ouID: Int64?
    public var name: String
    public var configJSON: String
    public var updatedBy: Int64?
    public var updatedAt: Int64
}

/// Aggregates over results, grouped one way, computed in SQL.
public struct StatisticsQuery: Sendable {
    public enum Grouping: Sendable, Equatable {
        case testType, target, device
        /// Fixed-width time buckets of this many milliseconds.
        case time(bucket: Int64)
    }

    /// Numeric columns a statistic may summarise.
    /// Every declared stored metric a statistic may summarise (a column name).
    public static let metrics = ResultMetrics.declared.filter(\.isStatistic).map(\.name)

    public var filter = ResultFilter()
    public var grouping: Grouping = .testType
    public var metric = "latency_ms"
    public var limit = 100
    public init() {}
}

public struct StatisticsRow: Sendable, Equatable {
    /// The group: test type, target or device id as text; a bucket's start (ms) for time groups.
    public var key: String
    public var count: Int64
    public var successes: Int64
    public var meanLossPercent: Double?
    /// How many rows had a value of the metric; the rest are absent from the figures below.
    public var samples: Int64
    public var mean: Double?, min: Double?, max: Double?
    /// Nearest-rank percentiles of the metric.
    public var p50: Double?, p90: Double?, p99: Double?
}

extension Device {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, serial: row.string("serial") ?? "", hostname: row.string("hostname") ?? "",
                  os: row.string("os") ?? "", osVersion: row.string("os_version") ?? "", clientType: row.string("client_type") ?? "",
                  clientVersion: row.string("client_version") ?? "", ouID: row.int("ou_id") ?? 0,
                  enrollmentSecretID: row.int("enrollment_secret_id"), enrolledAddress: row.string("enrolled_address") ?? "",
                  active: row.bool("active"), enrolledAt: row.int("enrolled_at") ?? 0, lastSeenAt: row.int("last_seen_at"))
    }
}

extension EnrollmentSecretRecord {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, ouID: row.int("ou_id") ?? 0, name: row.string("name") ?? "", prefix: row.string("prefix") ?? "",
                  createdBy: row.int("created_by"), createdAt: row.int("created_at") ?? 0, expiresAt: row.int("expires_at"),
                  maxUses: row.int("max_uses"), uses: row.int("uses") ?? 0, revokedAt: row.int("revoked_at"))
    }

    func usable(now: Int64) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true) && (maxUses.map { uses < $0 } ?? true)
    }
}

extension ClientConfigRecord {
    init(row: SQLRow) {
        self.init(ouID: row.int("ou_id"), name: row.string("name") ?? "", configJSON: row.string("config_json") ?? "{}",
                  updatedBy: row.int("updated_by"), updatedAt: row.int("updated_at") ?? 0)
    }

    /// `client_configs.scope_key`: the OU id, or 0 for the default (a UNIQUE column cannot hold
    /// one NULL on both stores alike).
    static func scopeKey(_ ouID: Int64?) -> Int64 { ouID ?? 0 }
}

// MARK: Devices and enrollment

extension Store {
    /// OU scope as a SQL condition on `column`, or nil when the scope is everything.
    static func scopeCondition(_ ouIDs: [Int64]?, column: String = "ou_id") -> (String, [SQLValue])? {
        guard let ouIDs else { return nil }
        if ouIDs.isEmpty { return ("1 = 0", []) }
        return ("\(column) IN (\(placeholders(ouIDs.count)))", ouIDs.map(SQLValue.int))
    }

    public func createEnrollmentSecret(ouID: Int64, name: String, prefix: String, hash: String, createdBy: Int64?,
                                       expiresAt: Int64?, maxUses: Int64?) async throws -> EnrollmentSecretRecord {
        let now = WallClock.nowMillis()
        do {
            let id = try await pool.withConnection { c in
                try c.execute("""
                    INSERT INTO enrollment_secrets (ou_id, name, prefix, secret_hash, created_by, created_at, expires_at, max_uses, uses)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
                    """, [.int(ouID), .text(name), .text(prefix), .text(hash), .optional(createdBy), .int(now), .optional(expiresAt), .optional(maxUses)]).lastInsertID
            }
            return EnrollmentSecretRecord(id: id, ouID: ouID, name: name, prefix: prefix, createdBy: createdBy, createdAt: now,
                                          expiresAt: expiresAt, maxUses: maxUses, uses: 0, revokedAt: nil)
        } catch {
            throw Self.translate(error, conflict: "enrollment secret collision")
        }
    }

    public func enrollmentSecrets(ouIDs: [Int64]?) async throws -> [EnrollmentSecretRecord] {
        try await pool.withConnection { c in
            let scope = Self.scopeCondition(ouIDs)
            return try c.query("SELECT * FROM enrollment_secrets\(scope.map { " WHERE " + $0.0 } ?? "") ORDER BY id", scope?.1 ?? [])
                .map(EnrollmentSecretRecord.init(row:))
        }
    }

    public func enrollmentSecret(_ id: Int64) async throws -> EnrollmentSecretRecord? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM enrollment_secrets WHERE id = ?", [.int(id)]).first.map(EnrollmentSecretRecord.init(row:))
        }
    }

    public func revokeEnrollmentSecret(_ id: Int64) async throws {
        try await pool.withConnection { c in
            guard try c.execute("UPDATE enrollment_secrets SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                [.int(WallClock.nowMillis()), .int(id)]).affectedRows == 1 else {
                throw StoreError.notFound("enrollment secret \(id)")
            }
        }
    }

    public enum EnrollmentError: Error, Equatable, Sendable {
        /// Unknown, revoked, expired or used-up secret (one answer for all: the endpoint is public).
        case badSecret
        /// The serial is enrolled in an OU this secret does not belong to.
        case otherOU
        /// The serial belongs to a deactivated device.
        case deactivated
    }

    /// Enrolls a device with a secret, or re-enrolls the same serial within the secret's OU (new
    /// token, metadata refreshed, OU unchanged). One transaction: the secret's use count, the device
    /// row and its token hash change together or not at all.
    public func enroll(secretHash: String, info: DeviceInfo, tokenHash: String, address: String) async throws -> (device: Device, created: Bool) {
        let now = WallClock.nowMillis()
        return try await pool.withConnection { c in
            do {
                return try c.transaction {
                    guard let secret = try c.query("SELECT * FROM enrollment_secrets WHERE secret_hash = ?", [.text(secretHash)])
                        .first.map(EnrollmentSecretRecord.init(row:)), secret.usable(now: now) else { throw EnrollmentError.badSecret }
                    // Counted first, guarded in SQL, so two devices racing for the last use cannot both win.
                    guard try c.execute("UPDATE enrollment_secrets SET uses = uses + 1 WHERE id = ? AND (max_uses IS NULL OR uses < max_uses)",
                                        [.int(secret.id)]).affectedRows == 1 else { throw EnrollmentError.badSecret }
                    let metadata: [SQLValue] = [.text(info.hostname), .text(info.os), .text(info.osVersion), .text(info.clientType), .text(info.clientVersion)]
                    if let existing = try c.query("SELECT * FROM devices WHERE serial = ?", [.text(info.serial)]).first.map(Device.init(row:)) {
                        guard existing.ouID == secret.ouID else { throw EnrollmentError.otherOU }
                        guard existing.active else { throw EnrollmentError.deactivated }
                        try c.execute("""
                            UPDATE devices SET hostname = ?, os = ?, os_version = ?, client_type = ?, client_version = ?,
                              enrollment_secret_id = ?, token_hash = ?, enrolled_address = ?, last_seen_at = ? WHERE id = ?
                            """, metadata + [.int(secret.id), .text(tokenHash), .text(address), .int(now), .int(existing.id)])
                        let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(existing.id)]).first.map(Device.init(row:))!
                        return (device, false)
                    }
                    let id = try c.execute("""
                        INSERT INTO devices (serial, hostname, os, os_version, client_type, client_version, ou_id, enrollment_secret_id,
                          token_hash, enrolled_address, active, enrolled_at, last_seen_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                        """, [.text(info.serial)] + metadata + [.int(secret.ouID), .int(secret.id), .text(tokenHash), .text(address), .int(now), .int(now)]).lastInsertID
                    let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:))!
                    return (device, true)
                }
            } catch let error as SQLError where error.kind == .uniqueViolation {
                // Another enrollment of the same serial won the race.
                throw StoreError.conflict("device \(info.serial) is being enrolled concurrently; retry")
            }
        }
    }

    /// The active device holding this token; refreshes `last_seen_at` at most every 30 s.
    public func authenticateDevice(tokenHash: String) async throws -> Device? {
        try await pool.withConnection { c in
            guard var device = try c.query("SELECT * FROM devices WHERE token_hash = ? AND active = 1", [.text(tokenHash)]).first.map(Device.init(row:)) else {
                return nil
            }
            let now = WallClock.nowMillis()
            if (device.lastSeenAt ?? 0) < now - 30_000 {
                try c.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [.int(now), .int(device.id)])
                device.lastSeenAt = now
            }
            return device
        }
    }

    /// An explicit heartbeat: records the time now.
    public func markDeviceSeen(_ id: Int64) async throws -> Int64 {
        let now = WallClock.nowMillis()
        try await pool.withConnection { c in _ = try c.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [.int(now), .int(id)]) }
        return now
    }

    public func device(_ id: Int64) async throws -> Device? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:))
        }
    }

    public func listDevices(_ query: DeviceQuery, now: Int64? = nil) async throws -> (devices: [Device], total: Int64) {
        let now = now ?? WallClock.nowMillis()
        return try await pool.withConnection { c in
            var clauses: [String] = [], binds: [SQLValue] = []
            if let (sql, values) = Self.scopeCondition(query.ouIDs) { clauses.append(sql); binds += values }
            if let (sql, values) = query.status?.condition(now: now) { clauses.append(sql); binds += values }
            if let active = query.active { clauses.append("active = ?"); binds.append(.bool(active)) }
            if let search = query.search, !search.isEmpty {
                let pattern = Store.likePattern(search)
                clauses.append("(serial LIKE ? ESCAPE '!' OR hostname LIKE ? ESCAPE '!')")
                binds += [.text(pattern), .text(pattern)]
            }
            let filter = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
            let total = try c.scalar("SELECT COUNT(*) FROM devices\(filter)", binds) ?? 0
            let devices = try c.query("SELECT * FROM devices\(filter) ORDER BY id LIMIT ? OFFSET ?",
                                      binds + [.int(Int64(query.limit)), .int(Int64(query.offset))]).map(Device.init(row:))
            return (devices, total)
        }
    }

    public func deviceSummary(ouIDs: [Int64]?, now: Int64? = nil) async throws -> DeviceSummary {
        let now = now ?? WallClock.nowMillis()
        return try await pool.withConnection { c in
            let scope = Self.scopeCondition(ouIDs)
            var columns = ["COUNT(*) AS total", "COALESCE(SUM(active), 0) AS active"]
            var binds: [SQLValue] = []
            for status in DeviceStatus.allCases {
                let (sql, values) = status.condition(now: now)
                columns.append("COALESCE(SUM(CASE WHEN active = 1 AND \(sql) THEN 1 ELSE 0 END), 0) AS \(status.rawValue)")
                binds += values
            }
            guard let row = try c.query("SELECT \(columns.joined(separator: ", ")) FROM devices\(scope.map { " WHERE " + $0.0 } ?? "")",
                                        binds + (scope?.1 ?? [])).first else { return DeviceSummary() }
            var summary = DeviceSummary(total: row.int("total") ?? 0, active: row.int("active") ?? 0)
            summary.inactive = summary.total - summary.active
            for status in DeviceStatus.allCases { summary.byStatus[status] = row.int(status.rawValue) ?? 0 }
            return summary
        }
    }

    /// Deactivating also drops the device's token: a reactivated device enrolls again.
    public func setDeviceActive(_ id: Int64, _ active: Bool) async throws -> Device {
        try await pool.withConnection { c in
            let sql = active ? "UPDATE devices SET active = 1 WHERE id = ?" : "UPDATE devices SET active = 0, token_hash = NULL WHERE id = ?"
            guard try c.execute(sql, [.int(id)]).affectedRows == 1,
                  let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:)) else {
                throw StoreError.notFound("device \(id)")
            }
            return device
        }
    }
}

// MARK: Client configurations

extension Store {
    public func clientConfig(ouID: Int64?) async throws -> ClientConfigRecord? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM client_configs WHERE scope_key = ?", [.int(ClientConfigRecord.scopeKey(ouID))]).first.map(ClientConfigRecord.init(row:))
        }
    }

    /// Configs of these OUs plus the default (nil = all of them).
    public func clientConfigs(ouIDs: [Int64]?) async throws -> [ClientConfigRecord] {
        try await pool.withConnection { c in
            let scope = ouIDs.map { ids in ("scope_key IN (\(placeholders(ids.count + 1)))", ([0] + ids).map(SQLValue.int)) }
            return try c.query("SELECT * FROM client_configs\(scope.map { " WHERE " + $0.0 } ?? "") ORDER BY scope_key", scope?.1 ?? [])
                .map(ClientConfigRecord.init(row:))
        }
    }

    /// Creates or replaces the config of an OU (or the default).
    public func putClientConfig(_ config: ClientConfigRecord) async throws -> ClientConfigRecord {
        let key = ClientConfigRecord.scopeKey(config.ouID)
        let binds: [SQLValue] = [.text(config.name), .text(config.configJSON), .optional(config.updatedBy), .int(config.updatedAt)]
        do {
            try await pool.withConnection { c in
                try c.transaction {
                    if try c.execute("UPDATE client_configs SET name = ?, config_json = ?, updated_by = ?, updated_at = ? WHERE scope_key = ?",
                                     binds + [.int(key)]).affectedRows == 0 {
                        try c.execute("INSERT INTO client_configs (name, config_json, updated_by, updated_at, scope_key, ou_id) VALUES (?, ?, ?, ?, ?, ?)",
                                      binds + [.int(key), .optional(config.ouID)])
                    }
                }
            }
        } catch {
            throw Self.translate(error, conflict: "the config was written concurrently; retry")
        }
        return config
    }

    public func deleteClientConfig(ouID: Int64) async throws {
        try await pool.withConnection { c in
            guard try c.execute("DELETE FROM client_configs WHERE scope_key = ?", [.int(ouID)]).affectedRows == 1 else {
                throw StoreError.notFound("config for OU \(ouID)")
            }
        }
    }

    /// The config that applies to an OU: its own, else the nearest ancestor's, else the default.
    public func effectiveClientConfig(ouID: Int64) async throws -> ClientConfigRecord? {
        try await pool.withConnection { c in
            var parent: [Int64: Int64] = [:]
            for row in try c.query("SELECT id, parent_id FROM organization_units") {
                if let id = row.int("id"), let p = row.int("parent_id") { parent[id] = p }
            }
            var chain: [Int64] = []
            var next: Int64? = ouID
            while let id = next, !chain.contains(id) { chain.append(id); next = parent[id] }
            let configs = Dictionary(uniqueKeysWithValues: try c.query("SELECT * FROM client_configs WHERE scope_key IN (\(placeholders(chain.count + 1)))",
                                                                       (chain + [0]).map(SQLValue.int)).map { (ClientConfigRecord.scopeKey($0.int("ou_id")), ClientConfigRecord(row: $0)) })
            return (chain + [0]).lazy.compactMap { configs[$0] }.first
        }
    }
}

// MARK: Statistics

extension ResultFilter {
    /// The conditions on `result_series`: scope (OU, user), device, test type and target; nil
    /// when there are none.
    func seriesCondition() -> (sql: String, binds: [SQLValue])? {
        var series: [String] = []
        var binds: [SQLValue] = []
        if let ouIDs {
            if let userID {
                // Reporters see their OUs plus their own results.
                series.append(ouIDs.isEmpty ? "user_id = ?" : "(ou_id IN (\(placeholders(ouIDs.count))) OR user_id = ?)")
                binds += ouIDs.map(SQLValue.int) + [.int(userID)]
            } else {
                series.append("ou_id IN (\(placeholders(ouIDs.count)))")
                binds += ouIDs.map(SQLValue.int)
            }
        } else if let userID {
            series.append("user_id = ?"); binds.append(.int(userID))
        }
        if let v = deviceID { series.append("device_id = ?"); binds.append(.int(v)) }
        if let v = testType { series.append("test_type = ?"); binds.append(.text(v)) }
        if let v = target { series.append("target = ?"); binds.append(.text(v)) }
        return series.isEmpty ? nil : (series.joined(separator: " AND "), binds)
    }

    /// True when the scope admits no result at all (an OU role whose OUs are gone).
    var seesNothing: Bool { ouIDs?.isEmpty == true && userID == nil }
}

extension Store {
    /// Up to this many series are named in a query by id, so the planner can weigh them (index
    /// dives) and pick between the series index and a newest-first scan. MariaDB turns longer
    /// IN lists into a semi-join whose plan sorts every matching row: 16 s for 400k rows.
    static let namedSeriesLimit = 500

    /// `FROM test_results` conditions for `filter` (its series resolved first), with a statement
    /// prefix; nil when nothing can match.
    static func resultWhere(_ filter: ResultFilter, on c: any SQLConnection) throws -> (prefix: String, sql: String, binds: [SQLValue])? {
        if filter.seesNothing { return nil }
        var clauses: [String] = []
        var binds: [SQLValue] = []
        var prefix = ""
        if let series = filter.seriesCondition() {
            let ids = try c.query("SELECT id FROM result_series WHERE \(series.sql) LIMIT \(namedSeriesLimit + 1)", series.binds).compactMap { $0.int(at: 0) }
            if ids.isEmpty { return nil }
            if ids.count <= namedSeriesLimit {
                clauses.append("series_id IN (\(placeholders(ids.count)))")
                binds += ids.map(SQLValue.int)
            } else {
                // Many series: their rows are likely dense, so newest-first with a lookup in the
                // materialised series set is the plan (MariaDB would otherwise pull the series
                // table out as a semi-join and sort all their rows). Aggregates gain too: an OU's
                // 500k rows by target took 4.6 s as a semi-join, 1.7 s so.
                clauses.append("series_id IN (SELECT id FROM result_series WHERE \(series.sql))")
                binds += series.binds
                if c.dialect == .mariadb { prefix = "SET STATEMENT optimizer_switch='semijoin=off' FOR " }
            }
        }
        if let v = filter.since { clauses.append("created_at >= ?"); binds.append(.int(v)) }
        if let v = filter.until { clauses.append("created_at < ?"); binds.append(.int(v)) }
        if let v = filter.beforeID { clauses.append("id < ?"); binds.append(.int(v)) }
        return (prefix, clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), binds)
    }
}

extension Store {
    /// Count, success rate, mean loss and the metric's mean/min/max and nearest-rank p50/p90/p99 per
    /// group, all in one SQL statement (window functions: SQLite ≥ 3.25, MariaDB ≥ 10.2).
    public func statistics(_ query: StatisticsQuery) async throws -> [StatisticsRow] {
        precondition(StatisticsQuery.metrics.contains(query.metric), "metric is not a whitelisted column")
        let group: String, order: String
        switch query.grouping {
        case .testType: group = "test_type"; order = "a.n DESC, a.g"
        case .target: group = "target"; order = "a.n DESC, a.g"
        case .device: group = "COALESCE(device_id, 0)"; order = "a.n DESC, a.g"
        case .time(let bucket): group = "created_at - (created_at % \(bucket))"; order = "a.g"
        }
        let m = query.metric
        let statement = { @Sendable (filterSQL: String) in """
            WITH f AS (SELECT \(group) AS g, success, loss_percent, \(m) AS v FROM test_results\(filterSQL)),
            a AS (SELECT g, COUNT(*) AS n, SUM(success) AS ok, AVG(loss_percent) AS loss, COUNT(v) AS vn, AVG(v) AS vmean, MIN(v) AS vmin, MAX(v) AS vmax
                  FROM f GROUP BY g),
            r AS (SELECT g, v, ROW_NUMBER() OVER (PARTITION BY g ORDER BY v) AS rn, COUNT(*) OVER (PARTITION BY g) AS c FROM f WHERE v IS NOT NULL),
            p AS (SELECT g, MIN(CASE WHEN rn * 100 >= 50 * c THEN v END) AS p50, MIN(CASE WHEN rn * 100 >= 90 * c THEN v END) AS p90,
                         MIN(CASE WHEN rn * 100 >= 99 * c THEN v END) AS p99 FROM r GROUP BY g)
            SELECT a.g AS g, a.n AS n, a.ok AS ok, a.loss AS loss, a.vn AS vn, a.vmean AS vmean, a.vmin AS vmin, a.vmax AS vmax,
                   p.p50 AS p50, p.p90 AS p90, p.p99 AS p99
            FROM a LEFT JOIN p ON p.g = a.g ORDER BY \(order) LIMIT ?
            """ }
        return try await pool.withConnection { c in
            guard let (prefix, filterSQL, binds) = try Self.resultWhere(query.filter, on: c) else { return [] }
            return try c.query(prefix + statement(filterSQL), binds + [.int(Int64(query.limit))]).map { row in
                StatisticsRow(key: row.string("g") ?? "", count: row.int("n") ?? 0, successes: row.int("ok") ?? 0,
                              meanLossPercent: row.double("loss"), samples: row.int("vn") ?? 0, mean: row.double("vmean"),
                              min: row.double("vmin"), max: row.double("vmax"), p50: row.double("p50"), p90: row.double("p90"), p99: row.double("p99"))
            }
        }
    }
}
