@testable import Control
import Foundation
import Logging
import Testing

/// The alert state machine on both stores, with results written as uploads write them and the
/// evaluator run at chosen times.
@Suite("Alerts")
struct AlertTests {
    static func rule(ou: Int64?, forSeconds: Int = 0, webhook: String? = "http://192.0.2.1/hook") -> AlertRule {
        AlertRule(id: 0, ouID: ou, name: "loss", metric: "loss_percent", aggregation: .avg, windowSeconds: 60, comparison: .above,
                  threshold: 50, forSeconds: forSeconds, deviceID: nil, testType: "tcp", target: nil, webhookURL: webhook, webhookFormat: .json,
                  enabled: true, internalWebhook: false, createdBy: nil, createdAt: 0, updatedAt: 0)
    }

    static func write(_ writer: ResultWriter, ou: Int64, target: String, at: Int64, loss: Double) async throws {
        var row = ResultRow(createdAt: at, source: "client", testType: "tcp", target: target, outcome: loss > 0 ? "refused" : "success", success: loss < 100)
        row.metrics["loss_percent"] = loss
        row.ouID = ou
        try await writer.write([row])
    }

    @Test("inactive → pending → firing after for_s → resolved; one notification per firing and resolve", arguments: TestStores.backends)
    func stateMachine(_ kind: String) async throws {
        let store = try await TestStores.open(kind)
        let writer = ResultWriter(store: store)
        let ou = try await store.createOU(name: "alerts", description: "", parentID: nil).id
        let other = try await store.createOU(name: "elsewhere", description: "", parentID: nil).id
        let rule = try await store.createAlertRule(Self.rule(ou: ou, forSeconds: 30))
        let evaluator = AlertEvaluator(store: store, interval: .seconds(1), logger: Logger(label: "test"))
        let t0: Int64 = 1_800_000_000_000
        func states() async throws -> [String] { try await store.alertStates(rule: rule.id).values.map(\.state.rawValue).sorted() }

        try await Self.write(writer, ou: ou, target: "a:1", at: t0, loss: 0)
        try await Self.write(writer, ou: other, target: "a:1", at: t0, loss: 100)   // another unit's: not this rule's
        await evaluator.evaluateAll(now: t0 + 1000)
        #expect(try await states() == [])
        try await Self.write(writer, ou: ou, target: "a:1", at: t0 + 2000, loss: 100)
        try await Self.write(writer, ou: ou, target: "a:1", at: t0 + 3000, loss: 100)
        await evaluator.evaluateAll(now: t0 + 4000)               // avg 66.7 > 50
        #expect(try await states() == ["pending"])
        await evaluator.evaluateAll(now: t0 + 20_000)             // still under for_s
        #expect(try await states() == ["pending"])
        await evaluator.evaluateAll(now: t0 + 35_000)             // 31 s pending
        #expect(try await states() == ["firing"])
        await evaluator.evaluateAll(now: t0 + 36_000)             // firing stays firing: no second notification
        for i in 0..<6 { try await Self.write(writer, ou: ou, target: "a:1", at: t0 + 40_000 + Int64(i), loss: 0) }
        await evaluator.evaluateAll(now: t0 + 41_000)             // avg 22 < 50
        #expect(try await states() == [])
        await evaluator.evaluateAll(now: t0 + 42_000)
        let transitions = try await store.alertTransitions(rule: rule.id, limit: 10).map(\.to)
        #expect(transitions.reversed() == ["pending", "firing", "resolved"])
        let notifications = try await store.alertNotifications(rules: [rule.id], status: nil, limit: 10)
        #expect(notifications.map(\.kind).sorted() == ["firing", "resolved"])
        #expect(notifications.allSatisfy { $0.series.target == "a:1" && $0.series.deviceID == nil && $0.status == .pending })

        // Pending that clears goes back to inactive, recorded, with no notification.
        try await Self.write(writer, ou: ou, target: "b:1", at: t0 + 100_000, loss: 100)
        await evaluator.evaluateAll(now: t0 + 100_500)
        await evaluator.evaluateAll(now: t0 + 200_000)            // b's result left the 60 s window: no data is false
        #expect(try await store.alertTransitions(rule: rule.id, limit: 10).prefix(2).map(\.to) == ["inactive", "pending"])
        #expect(try await store.alertNotifications(rules: [rule.id], status: nil, limit: 10).count == 2)
        await writer.drain()
        store.close()
    }

    @Test("a change decided from a stale state is not applied: two evaluators notify once", arguments: TestStores.backends)
    func concurrentEvaluators(_ kind: String) async throws {
        let store = try await TestStores.open(kind)
        let ou = try await store.createOU(name: "c", description: "", parentID: nil).id
        let rule = try await store.createAlertRule(Self.rule(ou: ou))
        let series = AlertSeries(deviceID: 7, testType: "tcp", target: "x:1")
        let fire = AlertChange(series: series, from: nil, to: .firing, since: 1, value: 100, transition: "firing", notify: "firing")
        #expect(try await store.applyAlertChanges(rule: rule, [fire], now: 1) == 1)
        #expect(try await store.applyAlertChanges(rule: rule, [fire], now: 2) == 0, "a second server saw it inactive too")
        let resolve = AlertChange(series: series, from: .firing, to: .inactive, since: 3, value: 0, transition: "resolved", notify: "resolved")
        #expect(try await store.applyAlertChanges(rule: rule, [resolve], now: 3) == 1)
        #expect(try await store.applyAlertChanges(rule: rule, [resolve], now: 4) == 0)
        #expect(try await store.alertNotifications(rules: [rule.id], status: nil, limit: 10).count == 2)
        // A lease: one claimer gets a due delivery.
        let first = try await store.claimDueNotifications(now: 10, lease: 60_000, limit: 10)
        let second = try await store.claimDueNotifications(now: 10, lease: 60_000, limit: 10)
        #expect(first.count == 2 && second.isEmpty)
        try await store.markNotificationFailed(first[0].id, attempts: 1, error: "500", retryAt: 20)
        try await store.markNotificationFailed(first[1].id, attempts: 3, error: "gone", retryAt: nil)
        #expect(try await store.claimDueNotifications(now: 20, lease: 60_000, limit: 10).map(\.id) == [first[0].id])
        #expect(try await store.alertNotifications(rules: [rule.id], status: .dead, limit: 10).map(\.lastError) == ["gone"])
        store.close()
    }

    @Test("the webhook documents: JSON with the rule, series and value (null when none); Slack's text only")
    func webhookBodies() throws {
        var rule = Self.rule(ou: nil)
        rule.id = 9
        let n = AlertNotification(id: 3, ruleID: 9, transitionID: 1, series: AlertSeries(deviceID: nil, testType: "tcp", target: "db:5432"),
                                  kind: "firing", status: .pending, attempts: 0, nextAttemptAt: 0, lastError: nil, createdAt: 1_800_000_000_000,
                                  deliveredAt: nil, value: nil)
        let json = try JSONSerialization.jsonObject(with: WebhookDispatcher.body(n, rule: rule)) as? [String: Any] ?? [:]
        #expect(Set(json.keys) == ["id", "status", "text", "at", "value", "rule", "series"])
        #expect(json["value"] is NSNull && json["status"] as? String == "firing" && (json["text"] as? String)?.contains("no data") == true)
        #expect((json["series"] as? [String: Any])?["device_id"] is NSNull && (json["rule"] as? [String: Any])?["window_s"] as? Int == 60)
        rule.webhookFormat = .slack
        let slack = try JSONSerialization.jsonObject(with: WebhookDispatcher.body(n, rule: rule)) as? [String: Any] ?? [:]
        #expect(Array(slack.keys) == ["text"] && (slack["text"] as? String)?.hasPrefix("[FIRING] loss: tcp db:5432") == true)
    }

    @Test("aggregations: percentiles by nearest rank, success_rate as a share, no values as no data")
    func aggregations() {
        var rule = Self.rule(ou: nil)
        let values: [Double] = (1...100).map(Double.init)
        for (a, expected) in [(AlertRule.Aggregation.avg, 50.5), (.min, 1), (.max, 100), (.p50, 50), (.p90, 90), (.p99, 99), (.last, 100)] {
            rule.aggregation = a
            #expect(AlertEvaluator.aggregate(rule, successes: 0, count: 100, values: values) == expected, "\(a)")
        }
        #expect(AlertEvaluator.aggregate(rule, successes: 0, count: 3, values: []) == nil)
        rule.metric = "success_rate"
        #expect(AlertEvaluator.aggregate(rule, successes: 3, count: 4, values: []) == 75)
    }
}
