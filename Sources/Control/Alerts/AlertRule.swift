import Foundation
import ProbeModel

/// A rule over stored results: for each series (device, kind, target) its selector matches
/// within the rule's OU subtree, `aggregation(metric)` over the last `window` compared with
/// `threshold`; true for `for` seconds, the series fires; false again, it resolves.
public struct AlertRule: Sendable, Equatable {
    public var id: Int64
    /// The subtree whose results it watches; nil: every unit (global administrators only).
    public var ouID: Int64?
    public var name: String
    /// A stored metric (`loss_percent`, `latency_ms`, `p99_ms`, …) or `success_rate` (0–100,
    /// the share of successful results).
    public var metric: String
    public var aggregation: Aggregation
    public var windowSeconds: Int
    public var comparison: Comparison
    public var threshold: Double
    public var forSeconds: Int
    public var deviceID: Int64?
    public var testType: String?
    public var target: String?
    public var webhookURL: String?
    public var webhookFormat: WebhookFormat
    public var enabled: Bool
    /// The creator may reach internal addresses (`targets:internal`): its webhook may be on one.
    public var internalWebhook: Bool
    public var createdBy: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64

    public enum Aggregation: String, Sendable, CaseIterable, Codable {
        case avg, min, max, p50, p90, p99, last
    }

    public enum Comparison: String, Sendable, CaseIterable, Codable {
        case above = ">", atLeast = ">=", below = "<", atMost = "<="

        func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .above: value > threshold
            case .atLeast: value >= threshold
            case .below: value < threshold
            case .atMost: value <= threshold
            }
        }
    }

    public enum WebhookFormat: String, Sendable, CaseIterable, Codable {
        /// The notification document (`AlertNotificationBody`).
        case json
        /// `{"text": "..."}`: Slack's incoming webhooks (and Mattermost, Rocket.Chat).
        case slack
    }

    /// The metrics a rule may name: every stored metric, and `success_rate`.
    static var metrics: [String] { ["success_rate"] + ResultMetrics.declared.map(\.name) }
}

/// Where a series stands for a rule.
public enum AlertState: String, Sendable, CaseIterable, Codable {
    case inactive, pending, firing
}

/// One series of a rule that is not inactive: its state, since when and its last value.
public struct AlertSeriesState: Sendable, Equatable {
    public var ruleID: Int64
    public var series: AlertSeries
    public var state: AlertState
    public var since: Int64
    public var value: Double?
    public var evaluatedAt: Int64
}

/// What a rule evaluates separately: one device's (or no device's) results of one kind and
/// target.
public struct AlertSeries: Sendable, Hashable {
    public var deviceID: Int64?
    public var testType: String
    public var target: String

    /// Stored as one key: `device|type|target` (`-` for no device).
    var key: String { "\(deviceID.map(String.init) ?? "-")|\(testType)|\(target)" }

    init(deviceID: Int64?, testType: String, target: String) {
        self.deviceID = deviceID
        self.testType = testType
        self.target = target
    }

    init?(key: String) {
        let parts = key.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        deviceID = Int64(parts[0])
        testType = String(parts[1])
        target = String(parts[2])
    }
}

/// A state change of a series, as stored (`GET /api/v1/alert-rules/{id}/transitions`).
public struct AlertTransition: Sendable, Equatable {
    public var id: Int64
    public var ruleID: Int64
    public var series: AlertSeries
    /// `pending`, `firing`, `resolved` or `inactive` (a pending series whose condition ended).
    public var to: String
    public var from: AlertState
    public var value: Double?
    public var at: Int64
}

/// A webhook delivery: queued with its transition, retried, and dead after the last attempt.
public struct AlertNotification: Sendable, Equatable {
    public var id: Int64
    public var ruleID: Int64
    public var transitionID: Int64
    public var series: AlertSeries
    /// `firing` or `resolved`.
    public var kind: String
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Int64
    public var lastError: String?
    public var createdAt: Int64
    public var deliveredAt: Int64?
    public var value: Double?

    public enum Status: String, Sendable, CaseIterable {
        case pending, delivered, dead
    }
}
