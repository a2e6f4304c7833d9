import Foundation

// Bodies of the alert routes.

/// `Schemas.alertRuleRequest`: a rule as created or replaced.
struct AlertRuleRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertRuleRequest }

    var name: String
    /// The subtree whose results it watches; absent or null: every unit (global administrators).
    var ouID: Int64?
    var metric: String
    var aggregation: String?
    var windowSeconds: Int
    var comparison: String
    var threshold: Double
    var forSeconds: Int?
    var selector: Selector?
    var webhook: Webhook?
    var enabled: Bool?

    struct Selector: Codable, Sendable, Equatable {
        var deviceID: Int64?
        var testType: String?
        var target: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case deviceID = "device_id"
            case testType = "test_type"
            case target
        }
    }

    struct Webhook: Codable, Sendable, Equatable {
        var url: String
        var format: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url
            case format
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case ouID = "ou_id"
        case metric
        case aggregation
        case windowSeconds = "window_s"
        case comparison
        case threshold
        case forSeconds = "for_s"
        case selector
        case webhook
        case enabled
    }
}

/// `Schemas.alertRule`.
struct AlertRuleBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertRule }

    var id: Int64
    @ExplicitNull var ouID: Int64?
    var name: String
    var metric: String
    var aggregation: String
    var windowSeconds: Int
    var comparison: String
    var threshold: Double
    var forSeconds: Int
    var selector: AlertRuleRequest.Selector
    @ExplicitNull var webhook: AlertRuleRequest.Webhook?
    var enabled: Bool
    @ExplicitNull var createdBy: Int64?
    var createdAt: APITimestamp
    var updatedAt: APITimestamp

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case ouID = "ou_id"
        case name
        case metric
        case aggregation
        case windowSeconds = "window_s"
        case comparison
        case threshold
        case forSeconds = "for_s"
        case selector
        case webhook
        case enabled
        case createdBy = "created_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

extension AlertRuleBody {
    init(_ rule: AlertRule) {
        self.init(id: rule.id, ouID: rule.ouID, name: rule.name, metric: rule.metric, aggregation: rule.aggregation.rawValue,
                  windowSeconds: rule.windowSeconds, comparison: rule.comparison.rawValue, threshold: rule.threshold, forSeconds: rule.forSeconds,
                  selector: .init(deviceID: rule.deviceID, testType: rule.testType, target: rule.target),
                  webhook: rule.webhookURL.map { .init(url: $0, format: rule.webhookFormat.rawValue) }, enabled: rule.enabled,
                  createdBy: rule.createdBy, createdAt: APITimestamp(millis: rule.createdAt), updatedAt: APITimestamp(millis: rule.updatedAt))
    }
}

/// `Schemas.alertRuleList`.
struct AlertRuleList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertRuleList }
    var rules: [AlertRuleBody]
    enum CodingKeys: String, CodingKey, CaseIterable { case rules }
}

/// `Schemas.alertSeries`.
struct AlertSeriesBody: Codable, Sendable, Equatable {
    @ExplicitNull var deviceID: Int64?
    var testType: String
    var target: String

    init(_ s: AlertSeries) {
        deviceID = s.deviceID
        testType = s.testType
        target = s.target
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case deviceID = "device_id"
        case testType = "test_type"
        case target
    }
}

/// `Schemas.alert`: a series that is pending or firing.
struct AlertBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alert }

    var ruleID: Int64
    var ruleName: String
    var series: AlertSeriesBody
    var state: String
    var since: APITimestamp
    @ExplicitNull var value: Double?
    var evaluatedAt: APITimestamp

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ruleID = "rule_id"
        case ruleName = "rule_name"
        case series
        case state
        case since
        case value
        case evaluatedAt = "evaluated_at"
    }
}

/// `Schemas.alertList`.
struct AlertList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertList }
    var alerts: [AlertBody]
    enum CodingKeys: String, CodingKey, CaseIterable { case alerts }
}

/// `Schemas.alertTransition`.
struct AlertTransitionBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertTransition }

    var id: Int64
    var ruleID: Int64
    var series: AlertSeriesBody
    var from: String
    var to: String
    @ExplicitNull var value: Double?
    var at: APITimestamp

    init(_ t: AlertTransition) {
        id = t.id
        ruleID = t.ruleID
        series = AlertSeriesBody(t.series)
        from = t.from.rawValue
        to = t.to
        value = t.value
        at = APITimestamp(millis: t.at)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case ruleID = "rule_id"
        case series
        case from
        case to
        case value
        case at
    }
}

/// `Schemas.alertTransitionList`.
struct AlertTransitionList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertTransitionList }
    var transitions: [AlertTransitionBody]
    enum CodingKeys: String, CodingKey, CaseIterable { case transitions }
}

/// `Schemas.alertNotification`.
struct AlertNotificationBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertNotification }

    var id: Int64
    var ruleID: Int64
    var transitionID: Int64
    var series: AlertSeriesBody
    var kind: String
    var status: String
    var attempts: Int
    @ExplicitNull var lastError: String?
    var createdAt: APITimestamp
    @ExplicitNull var deliveredAt: APITimestamp?

    init(_ n: AlertNotification) {
        id = n.id
        ruleID = n.ruleID
        transitionID = n.transitionID
        series = AlertSeriesBody(n.series)
        kind = n.kind
        status = n.status.rawValue
        attempts = n.attempts
        lastError = n.lastError
        createdAt = APITimestamp(millis: n.createdAt)
        deliveredAt = n.deliveredAt.map { APITimestamp(millis: $0) }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case ruleID = "rule_id"
        case transitionID = "transition_id"
        case series
        case kind
        case status
        case attempts
        case lastError = "last_error"
        case createdAt = "created_at"
        case deliveredAt = "delivered_at"
    }
}

/// `Schemas.alertNotificationList`.
struct AlertNotificationList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.alertNotificationList }
    var notifications: [AlertNotificationBody]
    enum CodingKeys: String, CodingKey, CaseIterable { case notifications }
}
