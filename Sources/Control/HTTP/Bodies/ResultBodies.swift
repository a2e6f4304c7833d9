import Foundation

// Bodies of the result routes. The upload's request and the listing's response stay untyped
// (`SchemaParser` rows and `JSONBuffer`): they are the hot paths.

/// `Schemas.resultAck`: sent after the batch is committed.
struct ResultAck: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.resultAck }

    var accepted: Int
    /// All rows are committed at or below this id.
    var lastID: Int64

    init(accepted: Int, lastID: Int64) {
        self.accepted = accepted
        self.lastID = lastID
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case accepted
        case lastID = "last_id"
    }
}

/// `Schemas.statistics`.
struct StatisticsResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.statistics }

    var groupBy: String
    var metric: String
    /// The window the figures cover, [since, until) in milliseconds since the epoch.
    var since: Int64
    var until: Int64
    var groups: [StatisticsGroup]

    init(groupBy: String, metric: String, since: Int64, until: Int64, groups: [StatisticsGroup]) {
        self.groupBy = groupBy
        self.metric = metric
        self.since = since
        self.until = until
        self.groups = groups
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case groupBy = "group_by"
        case metric
        case since
        case until
        case groups
    }
}

/// The `StatisticsGroup` object of `Schemas.statistics`. The figures are always sent, null when
/// no row had a value; `start` only for time groups.
struct StatisticsGroup: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.statisticsGroup }

    /// Test type, target, device id (null: no device) or bucket start in ms.
    @ExplicitNull var key: String?
    /// Time groups: the bucket's start.
    var start: APITimestamp?
    var count: Int64
    var successes: Int64
    /// 0...1.
    var successRate: Double
    @ExplicitNull var meanLossPercent: Double?
    /// Rows with a value of the metric; the figures below use only these.
    var samples: Int64
    @ExplicitNull var mean: Double?
    @ExplicitNull var min: Double?
    @ExplicitNull var max: Double?
    @ExplicitNull var p10: Double?
    @ExplicitNull var p25: Double?
    @ExplicitNull var p50: Double?
    @ExplicitNull var p75: Double?
    @ExplicitNull var p90: Double?
    @ExplicitNull var p99: Double?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case key
        case start
        case count
        case successes
        case successRate = "success_rate"
        case meanLossPercent = "mean_loss_percent"
        case samples
        case mean
        case min
        case max
        case p10
        case p25
        case p50
        case p75
        case p90
        case p99
    }
}

extension StatisticsGroup {
    /// A row of `Store.statistics` grouped by `grouping`.
    init(_ row: StatisticsRow, grouping: StatisticsQuery.Grouping) {
        var key: String? = row.key
        var start: APITimestamp? = nil
        switch grouping {
        case .time: start = APITimestamp(millis: Int64(row.key))
        case .device: if row.key == "0" { key = nil }
        case .testType, .target: break
        }
        self.init(key: key, start: start, count: row.count, successes: row.successes,
                  successRate: row.count > 0 ? Double(row.successes) / Double(row.count) : 0,
                  meanLossPercent: Self.finite(row.meanLossPercent), samples: row.samples,
                  mean: Self.finite(row.mean), min: Self.finite(row.min), max: Self.finite(row.max),
                  p10: Self.finite(row.p10), p25: Self.finite(row.p25), p50: Self.finite(row.p50), p75: Self.finite(row.p75),
                  p90: Self.finite(row.p90), p99: Self.finite(row.p99))
    }

    /// NaN and infinities as null, as the untyped writer sent them (JSONEncoder refuses them).
    private static func finite(_ value: Double?) -> Double? {
        guard let value, value.isFinite else { return nil }
        return value
    }
}

/// The series in the caller's scope (`GET /api/v1/series`).
struct SeriesListResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.seriesList }

    var series: [SeriesEntry]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case series
    }
}

struct SeriesEntry: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.seriesEntry }

    var testType: String
    var target: String
    @ExplicitNull var deviceID: Int64?

    init(_ row: SeriesRow) {
        testType = row.testType
        target = row.target
        deviceID = row.deviceID
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case testType = "test_type"
        case target
        case deviceID = "device_id"
    }
}
