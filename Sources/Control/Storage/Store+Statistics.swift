import Foundation
import SQLDatabase

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
    /// Nearest-rank percentiles of the metric (p10, p25 and p75 draw a SmokePing-style distribution).
    public var p10: Double?, p25: Double?, p50: Double?, p75: Double?, p90: Double?, p99: Double?
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
    /// Count, success rate, mean loss and the metric's mean/min/max and nearest-rank p10/p25/p50/p75/p90/p99 per
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
            p AS (SELECT g, MIN(CASE WHEN rn * 100 >= 10 * c THEN v END) AS p10, MIN(CASE WHEN rn * 100 >= 25 * c THEN v END) AS p25,
                         MIN(CASE WHEN rn * 100 >= 50 * c THEN v END) AS p50, MIN(CASE WHEN rn * 100 >= 75 * c THEN v END) AS p75,
                         MIN(CASE WHEN rn * 100 >= 90 * c THEN v END) AS p90, MIN(CASE WHEN rn * 100 >= 99 * c THEN v END) AS p99 FROM r GROUP BY g)
            SELECT a.g AS g, a.n AS n, a.ok AS ok, a.loss AS loss, a.vn AS vn, a.vmean AS vmean, a.vmin AS vmin, a.vmax AS vmax,
                   p.p10 AS p10, p.p25 AS p25, p.p50 AS p50, p.p75 AS p75, p.p90 AS p90, p.p99 AS p99
            FROM a LEFT JOIN p ON p.g = a.g ORDER BY \(order) LIMIT ?
            """ }
        return try await pool.withHeavyConnection { c in
            guard let (prefix, filterSQL, binds) = try Self.resultWhere(query.filter, on: c) else { return [] }
            return try c.query(prefix + statement(filterSQL), binds + [.int(Int64(query.limit))]).map { row in
                StatisticsRow(key: row.string("g") ?? "", count: row.int("n") ?? 0, successes: row.int("ok") ?? 0,
                              meanLossPercent: row.double("loss"), samples: row.int("vn") ?? 0, mean: row.double("vmean"),
                              min: row.double("vmin"), max: row.double("vmax"), p10: row.double("p10"), p25: row.double("p25"),
                              p50: row.double("p50"), p75: row.double("p75"), p90: row.double("p90"), p99: row.double("p99"))
            }
        }
    }
}

/// One series results were stored under: what a dashboard offers to chart.
public struct SeriesRow: Sendable, Equatable {
    public var testType: String
    public var target: String
    /// nil: results without a device (uploads by users, server-side tests).
    public var deviceID: Int64?
}

extension Store {
    /// The distinct (test type, target, device) series in scope, read from `result_series`
    /// alone: no result row is touched, so listing them costs the same at 1M results as at 10.
    /// A series stays listed after retention removed its results (it then charts as empty).
    public func series(_ filter: ResultFilter, limit: Int) async throws -> [SeriesRow] {
        if filter.seesNothing { return [] }
        let condition = filter.seriesCondition()
        let sql = "SELECT test_type, target, device_id FROM result_series" + (condition.map { " WHERE \($0.sql)" } ?? "")
            + " GROUP BY test_type, target, device_id ORDER BY test_type, target, device_id LIMIT ?"
        let binds = (condition?.binds ?? []) + [.int(Int64(limit))]
        return try await pool.withConnection { c in
            try c.query(sql, binds).map { row in
                let device = row.int("device_id") ?? 0
                return SeriesRow(testType: row.string("test_type") ?? "", target: row.string("target") ?? "", deviceID: device == 0 ? nil : device)
            }
        }
    }
}
