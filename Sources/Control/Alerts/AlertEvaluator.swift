import Foundation
import Logging
import ServiceLifecycle

/// Evaluates every enabled rule each `interval`, as a state machine per rule and series:
///
/// - inactive, condition true: pending (firing at once when `for` is 0);
/// - pending, still true for `for` seconds: firing (a `firing` notification);
/// - pending, false: inactive again (recorded, no notification);
/// - firing, false: resolved (a `resolved` notification), then inactive.
///
/// A series with no results in the window counts as false (a check that stopped reporting
/// resolves; a latency rule sees no latency when every probe failed). Every transition is
/// stored (`alert_transitions`); a notification is queued in the same transaction, so one goes
/// out per firing and per resolve, never twice for the same state.
struct AlertEvaluator: Service {
    let store: Store
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await evaluateAll(now: WallClock.nowMillis())
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One round over every enabled rule; also what the tests call.
    func evaluateAll(now: Int64) async {
        do {
            let rules = try await store.alertRules(ouIDs: nil).filter(\.enabled)
            guard !rules.isEmpty else { return }
            let units = try await store.listOUs()
            for rule in rules {
                do {
                    try await evaluate(rule, units: units, now: now)
                } catch {
                    logger.error("alert rule \(rule.id) (\(rule.name)): \(error)")
                }
            }
        } catch {
            logger.error("alerts: \(error)")
        }
    }

    func evaluate(_ rule: AlertRule, units: [OrganizationUnit], now: Int64) async throws {
        let ouIDs = rule.ouID.map { Scope.subtree(of: $0, in: units) }
        let samples = try await store.alertSamples(rule, ouIDs: ouIDs, since: now - Int64(rule.windowSeconds) * 1000, until: now + 1)
        var bySeries: [String: (series: AlertSeries, successes: Int, count: Int, values: [Double])] = [:]
        for sample in samples {
            let key = sample.series.key
            var entry = bySeries[key] ?? (sample.series, 0, 0, [])
            entry.count += 1
            if sample.success { entry.successes += 1 }
            if let v = sample.value { entry.values.append(v) }
            bySeries[key] = entry
        }
        let states = try await store.alertStates(rule: rule.id)
        var changes: [AlertChange] = []
        for key in Set(bySeries.keys).union(states.keys) {
            let value = bySeries[key].flatMap { Self.aggregate(rule, successes: $0.successes, count: $0.count, values: $0.values) }
            let holds = value.map { rule.comparison.holds($0, rule.threshold) } ?? false
            let current = states[key]
            let series = bySeries[key]?.series ?? current!.series
            switch (current?.state ?? .inactive, holds) {
            case (.inactive, true):
                let firing = rule.forSeconds == 0
                changes.append(AlertChange(series: series, from: current?.state, to: firing ? .firing : .pending, since: now, value: value,
                                           transition: firing ? "firing" : "pending", notify: firing ? "firing" : nil))
            case (.pending, true):
                if now - current!.since >= Int64(rule.forSeconds) * 1000 {
                    changes.append(AlertChange(series: series, from: .pending, to: .firing, since: now, value: value, transition: "firing",
                                               notify: "firing"))
                } else {
                    changes.append(AlertChange(series: series, from: .pending, to: .pending, since: current!.since, value: value))
                }
            case (.pending, false):
                changes.append(AlertChange(series: series, from: .pending, to: .inactive, since: now, value: value, transition: "inactive"))
            case (.firing, true):
                changes.append(AlertChange(series: series, from: .firing, to: .firing, since: current!.since, value: value))
            case (.firing, false):
                changes.append(AlertChange(series: series, from: .firing, to: .inactive, since: now, value: value, transition: "resolved",
                                           notify: "resolved"))
            case (.inactive, false):
                break
            }
        }
        let recorded = try await store.applyAlertChanges(rule: rule, changes, now: now)
        if recorded > 0 {
            for change in changes where change.transition != nil {
                logger.info("alert '\(rule.name)' \(change.series.testType) \(change.series.target): \(change.transition!)",
                            metadata: ["rule": "\(rule.id)", "value": "\(change.value.map { String($0) } ?? "none")"])
            }
        }
    }

    /// The rule's figure for one series: the share of successes (0-100) for `success_rate`,
    /// else the aggregation of the metric's values (nil when none has one).
    static func aggregate(_ rule: AlertRule, successes: Int, count: Int, values: [Double]) -> Double? {
        if rule.metric == "success_rate" { return count == 0 ? nil : Double(successes) * 100 / Double(count) }
        guard !values.isEmpty else { return nil }
        func percentile(_ p: Double) -> Double {
            let sorted = values.sorted()
            return sorted[max(0, Int((Double(sorted.count) * p / 100).rounded(.up)) - 1)]
        }
        switch rule.aggregation {
        case .avg: return values.reduce(0, +) / Double(values.count)
        case .min: return values.min()
        case .max: return values.max()
        case .p50: return percentile(50)
        case .p90: return percentile(90)
        case .p99: return percentile(99)
        case .last: return values.last
        }
    }
}
