import Foundation
import SQLDatabase

extension AlertRule {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, ouID: row.int("ou_id"), name: row.string("name") ?? "", metric: row.string("metric") ?? "",
                  aggregation: Aggregation(rawValue: row.string("aggregation") ?? "") ?? .avg, windowSeconds: Int(row.int("window_seconds") ?? 60),
                  comparison: Comparison(rawValue: row.string("comparison") ?? "") ?? .above, threshold: row.double("threshold") ?? 0,
                  forSeconds: Int(row.int("for_seconds") ?? 0), deviceID: row.int("device_id"), testType: row.string("test_type"),
                  target: row.string("target"), webhookURL: row.string("webhook_url"),
                  webhookFormat: WebhookFormat(rawValue: row.string("webhook_format") ?? "") ?? .json, enabled: row.bool("enabled"),
                  internalWebhook: row.bool("internal_webhook"), createdBy: row.int("created_by"), createdAt: row.int("created_at") ?? 0,
                  updatedAt: row.int("updated_at") ?? 0)
    }

    /// Every column but `id`, in `AlertRule.columns` order.
    var binds: [SQLValue] {
        [.optional(ouID), .text(name), .text(metric), .text(aggregation.rawValue), .int(Int64(windowSeconds)), .text(comparison.rawValue),
         .double(threshold), .int(Int64(forSeconds)), .optional(deviceID), .optional(testType), .optional(target), .optional(webhookURL),
         .text(webhookFormat.rawValue), .bool(enabled), .bool(internalWebhook), .optional(createdBy), .int(createdAt), .int(updatedAt)]
    }

    static let columns = ["ou_id", "name", "metric", "aggregation", "window_seconds", "comparison", "threshold", "for_seconds", "device_id",
                          "test_type", "target", "webhook_url", "webhook_format", "enabled", "internal_webhook", "created_by", "created_at",
                          "updated_at"]
}

extension AlertNotification {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, ruleID: row.int("rule_id") ?? 0, transitionID: row.int("transition_id") ?? 0,
                  series: AlertSeries(key: row.string("series_key") ?? "") ?? AlertSeries(deviceID: nil, testType: "", target: ""),
                  kind: row.string("kind") ?? "", status: Status(rawValue: row.string("status") ?? "") ?? .pending,
                  attempts: Int(row.int("attempts") ?? 0), nextAttemptAt: row.int("next_attempt_at") ?? 0, lastError: row.string("last_error"),
                  createdAt: row.int("created_at") ?? 0, deliveredAt: row.int("delivered_at"), value: row.double("value"))
    }
}

/// One change the evaluator decided for a series (see `AlertEvaluator`).
struct AlertChange: Sendable {
    var series: AlertSeries
    /// The state it was in (nil: no row yet, that is inactive).
    var from: AlertState?
    var to: AlertState
    var since: Int64
    var value: Double?
    /// What the transition log records (`pending`, `firing`, `resolved`, `inactive`); nil when
    /// only the value moved.
    var transition: String?
    /// A webhook delivery to queue with the transition (`firing`, `resolved`).
    var notify: String?
}

extension Store {
    // MARK: Rules

    public func createAlertRule(_ rule: AlertRule) async throws -> AlertRule {
        try await pool.withConnection { c in
            let id = try c.execute("INSERT INTO alert_rules (\(AlertRule.columns.joined(separator: ", "))) VALUES (\(placeholders(AlertRule.columns.count)))",
                                   rule.binds).lastInsertID
            var stored = rule
            stored.id = id
            return stored
        }
    }

    /// Replaces a rule; its series start again from inactive when what it evaluates changed.
    public func updateAlertRule(_ rule: AlertRule, resetStates: Bool) async throws {
        try await pool.withConnection { c in
            try c.transaction {
                try c.execute("UPDATE alert_rules SET \(AlertRule.columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?",
                              rule.binds + [.int(rule.id)])
                if resetStates { try c.execute("DELETE FROM alert_states WHERE rule_id = ?", [.int(rule.id)]) }
            }
        }
    }

    public func alertRule(_ id: Int64) async throws -> AlertRule? {
        try await pool.withConnection { c in try c.query("SELECT * FROM alert_rules WHERE id = ?", [.int(id)]).first.map(AlertRule.init(row:)) }
    }

    /// Rules of these units (nil: all, with the global ones).
    public func alertRules(ouIDs: [Int64]?) async throws -> [AlertRule] {
        try await pool.withConnection { c in
            guard let ouIDs else { return try c.query("SELECT * FROM alert_rules ORDER BY id").map(AlertRule.init(row:)) }
            guard !ouIDs.isEmpty else { return [] }
            return try c.query("SELECT * FROM alert_rules WHERE ou_id IN (\(placeholders(ouIDs.count))) ORDER BY id", ouIDs.map(SQLValue.int))
                .map(AlertRule.init(row:))
        }
    }

    /// Deletes the rule with its states; its transitions and deliveries go too.
    public func deleteAlertRule(_ id: Int64) async throws {
        try await pool.withConnection { c in
            try c.transaction {
                for table in ["alert_states", "alert_transitions", "alert_notifications"] {
                    try c.execute("DELETE FROM \(table) WHERE rule_id = ?", [.int(id)])
                }
                try c.execute("DELETE FROM alert_rules WHERE id = ?", [.int(id)])
            }
        }
    }

    // MARK: Evaluation

    /// The rule's results in `[since, until)`: each row's series, success and metric value.
    func alertSamples(_ rule: AlertRule, ouIDs: Set<Int64>?, since: Int64, until: Int64) async throws
        -> [(series: AlertSeries, success: Bool, value: Double?)] {
        precondition(AlertRule.metrics.contains(rule.metric), "unchecked metric \(rule.metric)")
        var clauses = ["r.created_at >= ?", "r.created_at < ?"]
        var binds: [SQLValue] = [.int(since), .int(until)]
        if let ouIDs {
            guard !ouIDs.isEmpty else { return [] }
            clauses.append("s.ou_id IN (\(placeholders(ouIDs.count)))")
            binds += ouIDs.sorted().map(SQLValue.int)
        }
        if let device = rule.deviceID { clauses.append("s.device_id = ?"); binds.append(.int(device)) }
        if let type = rule.testType { clauses.append("s.test_type = ?"); binds.append(.text(type)) }
        if let target = rule.target { clauses.append("s.target = ?"); binds.append(.text(target)) }
        let value = rule.metric == "success_rate" ? "NULL" : "r.\(rule.metric)"
        let sql = """
            SELECT s.device_id, s.test_type, s.target, r.success, \(value) AS v FROM test_results r
            JOIN result_series s ON s.id = r.series_id WHERE \(clauses.joined(separator: " AND ")) ORDER BY r.created_at, r.id
            """
        let bound = binds
        return try await pool.withConnection { c in
            try c.query(sql, bound).map { row in
                // Series rows store "no device" as 0.
                let device = row.int("device_id").flatMap { $0 == 0 ? nil : $0 }
                return (AlertSeries(deviceID: device, testType: row.string("test_type") ?? "", target: row.string("target") ?? ""),
                        row.bool("success"), row.double("v"))
            }
        }
    }

    func alertStates(rule id: Int64) async throws -> [String: AlertSeriesState] {
        try await pool.withConnection { c in
            var states: [String: AlertSeriesState] = [:]
            for row in try c.query("SELECT * FROM alert_states WHERE rule_id = ?", [.int(id)]) {
                let key = row.string("series_key") ?? ""
                guard let series = AlertSeries(key: key), let state = AlertState(rawValue: row.string("state") ?? "") else { continue }
                states[key] = AlertSeriesState(ruleID: id, series: series, state: state, since: row.int("since") ?? 0, value: row.double("value"),
                                               evaluatedAt: row.int("evaluated_at") ?? 0)
            }
            return states
        }
    }

    /// Applies the changes in one transaction. Each is conditional on the state it was decided
    /// from, so two servers evaluating the same rule record (and notify) a transition once.
    /// Returns the transitions recorded.
    @discardableResult
    func applyAlertChanges(rule: AlertRule, _ changes: [AlertChange], now: Int64) async throws -> Int {
        guard !changes.isEmpty else { return 0 }
        return try await pool.withConnection { c in
            try c.transaction {
                var recorded = 0
                for change in changes {
                    let key = change.series.key
                    let applied: Bool
                    if let from = change.from {
                        if change.to == .inactive {
                            applied = try c.execute("DELETE FROM alert_states WHERE rule_id = ? AND series_key = ? AND state = ?",
                                                    [.int(rule.id), .text(key), .text(from.rawValue)]).affectedRows == 1
                        } else {
                            applied = try c.execute("""
                                UPDATE alert_states SET state = ?, since = ?, value = ?, evaluated_at = ?
                                WHERE rule_id = ? AND series_key = ? AND state = ?
                                """, [.text(change.to.rawValue), .int(change.since), .optional(change.value), .int(now), .int(rule.id), .text(key),
                                      .text(from.rawValue)]).affectedRows == 1
                        }
                    } else {
                        do {
                            try c.execute("INSERT INTO alert_states (rule_id, series_key, state, since, value, evaluated_at) VALUES (?, ?, ?, ?, ?, ?)",
                                          [.int(rule.id), .text(key), .text(change.to.rawValue), .int(change.since), .optional(change.value), .int(now)])
                            applied = true
                        } catch let error as SQLError where error.kind == .uniqueViolation {
                            applied = false
                        }
                    }
                    guard applied, let transition = change.transition else { continue }
                    let id = try c.execute("""
                        INSERT INTO alert_transitions (rule_id, series_key, from_state, to_state, value, at) VALUES (?, ?, ?, ?, ?, ?)
                        """, [.int(rule.id), .text(key), .text((change.from ?? .inactive).rawValue), .text(transition), .optional(change.value),
                              .int(now)]).lastInsertID
                    recorded += 1
                    if let kind = change.notify, rule.webhookURL != nil {
                        try c.execute("""
                            INSERT INTO alert_notifications (rule_id, transition_id, series_key, kind, value, status, attempts, next_attempt_at, created_at)
                            VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                            """, [.int(rule.id), .int(id), .text(key), .text(kind), .optional(change.value), .int(now), .int(now)])
                    }
                }
                return recorded
            }
        }
    }

    // MARK: Reading

    /// Series that are pending or firing, of rules in these units (nil: all).
    public func activeAlerts(ouIDs: [Int64]?, state: AlertState? = nil) async throws -> [(AlertRule, AlertSeriesState)] {
        let rules = try await alertRules(ouIDs: ouIDs)
        guard !rules.isEmpty else { return [] }
        let byID = Dictionary(uniqueKeysWithValues: rules.map { ($0.id, $0) })
        return try await pool.withConnection { c in
            var binds = rules.map { SQLValue.int($0.id) }
            var sql = "SELECT * FROM alert_states WHERE rule_id IN (\(placeholders(rules.count)))"
            if let state { sql += " AND state = ?"; binds.append(.text(state.rawValue)) }
            return try c.query(sql + " ORDER BY rule_id, series_key", binds).compactMap { row in
                guard let rule = byID[row.int("rule_id") ?? 0], let series = AlertSeries(key: row.string("series_key") ?? ""),
                      let s = AlertState(rawValue: row.string("state") ?? "") else { return nil }
                return (rule, AlertSeriesState(ruleID: rule.id, series: series, state: s, since: row.int("since") ?? 0, value: row.double("value"),
                                               evaluatedAt: row.int("evaluated_at") ?? 0))
            }
        }
    }

    public func alertTransitions(rule id: Int64, limit: Int) async throws -> [AlertTransition] {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM alert_transitions WHERE rule_id = ? ORDER BY id DESC LIMIT ?", [.int(id), .int(Int64(limit))]).map { row in
                AlertTransition(id: row.int("id") ?? 0, ruleID: id,
                                series: AlertSeries(key: row.string("series_key") ?? "") ?? AlertSeries(deviceID: nil, testType: "", target: ""),
                                to: row.string("to_state") ?? "", from: AlertState(rawValue: row.string("from_state") ?? "") ?? .inactive,
                                value: row.double("value"), at: row.int("at") ?? 0)
            }
        }
    }

    /// Deliveries of these rules, newest first.
    public func alertNotifications(rules: [Int64], status: AlertNotification.Status?, limit: Int) async throws -> [AlertNotification] {
        guard !rules.isEmpty else { return [] }
        return try await pool.withConnection { c in
            var binds = rules.map(SQLValue.int)
            var sql = "SELECT * FROM alert_notifications WHERE rule_id IN (\(placeholders(rules.count)))"
            if let status { sql += " AND status = ?"; binds.append(.text(status.rawValue)) }
            return try c.query(sql + " ORDER BY id DESC LIMIT ?", binds + [.int(Int64(limit))]).map(AlertNotification.init(row:))
        }
    }

    // MARK: Delivery

    /// Pending deliveries due by `now`, each leased for `lease` ms (another server's dispatcher
    /// skips it meanwhile).
    func claimDueNotifications(now: Int64, lease: Int64, limit: Int) async throws -> [AlertNotification] {
        try await pool.withConnection { c in
            let due = try c.query("SELECT * FROM alert_notifications WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                                  [.int(now), .int(Int64(limit))]).map(AlertNotification.init(row:))
            return try due.filter { n in
                try c.execute("UPDATE alert_notifications SET next_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
                              [.int(now + lease), .int(n.id), .int(n.nextAttemptAt)]).affectedRows == 1
            }
        }
    }

    func markNotificationDelivered(_ id: Int64, attempts: Int, at now: Int64) async throws {
        try await pool.withConnection { c in
            try c.execute("UPDATE alert_notifications SET status = 'delivered', attempts = ?, delivered_at = ?, last_error = NULL WHERE id = ?",
                          [.int(Int64(attempts)), .int(now), .int(id)])
        }
    }

    /// A failed attempt: retried at `retryAt`, or dead (nil) with the last error kept.
    func markNotificationFailed(_ id: Int64, attempts: Int, error: String, retryAt: Int64?) async throws {
        try await pool.withConnection { c in
            try c.execute("UPDATE alert_notifications SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                          [.text(retryAt == nil ? "dead" : "pending"), .int(Int64(attempts)), .int(retryAt ?? 0), .text(String(error.prefix(1024))),
                           .int(id)])
        }
    }
}
