import Foundation
import Hummingbird

/// Alert rules, the series they hold pending or firing, their transitions and their webhook
/// deliveries. OU roles see and (admins) manage the rules of their subtree; a rule over every
/// unit (`ou_id` null) is for global administrators.
struct AlertsController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services

        /// The rule if it is in the caller's scope; 404 otherwise.
        @Sendable func visibleRule(_ context: ControlContext) async throws -> (Principal, AlertRule) {
            let principal = try context.caller()
            let id = try context.pathID()
            guard let rule = try await services.store.alertRule(id), principal.scope.contains(rule.ouID) else {
                throw APIError.notFound("alert rule \(id)")
            }
            return (principal, rule)
        }

        /// The request as a rule, its references checked against the caller's scope.
        @Sendable func rule(from body: AlertRuleRequest, principal: Principal, existing: AlertRule?) async throws -> AlertRule {
            if let ou = body.ouID {
                guard principal.scope.contains(ou) else { throw APIError.forbidden("OU \(ou) is outside your scope") }
                guard try await services.store.ou(ou) != nil else { throw APIError.conflict("ou_id", "no such organisation unit") }
            } else if principal.scope != .everything {
                throw APIError.forbidden("only global administrators make rules over every unit; give ou_id")
            }
            if let device = body.selector?.deviceID {
                guard let d = try await services.store.device(device), principal.scope.contains(d.ouID) else {
                    throw APIError.conflict("selector.device_id", "no device \(device) within your scope")
                }
            }
            let now = WallClock.nowMillis()
            return AlertRule(id: existing?.id ?? 0, ouID: body.ouID, name: body.name, metric: body.metric,
                             aggregation: AlertRule.Aggregation(rawValue: body.aggregation ?? "avg") ?? .avg, windowSeconds: body.windowSeconds,
                             comparison: AlertRule.Comparison(rawValue: body.comparison) ?? .above, threshold: body.threshold,
                             forSeconds: body.forSeconds ?? 0, deviceID: body.selector?.deviceID, testType: body.selector?.testType,
                             target: body.selector?.target, webhookURL: body.webhook?.url,
                             webhookFormat: AlertRule.WebhookFormat(rawValue: body.webhook?.format ?? "json") ?? .json,
                             enabled: body.enabled ?? true, internalWebhook: principal.permissions.contains(.targetsInternal),
                             createdBy: existing?.createdBy ?? principal.user?.id, createdAt: existing?.createdAt ?? now, updatedAt: now)
        }

        routes.on("listAlertRules") { _, context, _ in
            let scope = try context.caller().scope
            let rules = try await services.store.alertRules(ouIDs: scope.ouIDs.map { Array($0) })
            return JSONResponse.encode(AlertRuleList(rules: rules.map(AlertRuleBody.init)))
        }

        routes.on("createAlertRule") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let body = try await request.decode(AlertRuleRequest.self, operation)
            let created = try await services.store.createAlertRule(try await rule(from: body, principal: principal, existing: nil))
            await services.audit(principal, "alert_rule.create", subject: "alert_rule:\(created.id)", source: context.remoteAddress, detail: created.name)
            return JSONResponse.encode(AlertRuleBody(created), status: .created, headers: [.location: "/api/v1/alert-rules/\(created.id)"])
        }

        routes.on("getAlertRule") { _, context, _ in
            JSONResponse.encode(AlertRuleBody(try await visibleRule(context).1))
        }

        routes.on("replaceAlertRule") { request, context, operation in
            var request = request
            let (principal, existing) = try await visibleRule(context)
            let body = try await request.decode(AlertRuleRequest.self, operation)
            let replaced = try await rule(from: body, principal: principal, existing: existing)
            // A new condition or selector starts every series afresh; a new name or webhook does not.
            var same = replaced
            same.name = existing.name
            same.webhookURL = existing.webhookURL
            same.webhookFormat = existing.webhookFormat
            same.internalWebhook = existing.internalWebhook
            same.updatedAt = existing.updatedAt
            try await services.store.updateAlertRule(replaced, resetStates: same != existing)
            await services.audit(principal, "alert_rule.replace", subject: "alert_rule:\(existing.id)", source: context.remoteAddress, detail: replaced.name)
            return JSONResponse.encode(AlertRuleBody(replaced))
        }

        routes.on("deleteAlertRule") { _, context, _ in
            let (principal, rule) = try await visibleRule(context)
            try await services.store.deleteAlertRule(rule.id)
            await services.audit(principal, "alert_rule.delete", subject: "alert_rule:\(rule.id)", source: context.remoteAddress, detail: rule.name)
            return JSONResponse.noContent()
        }

        routes.on("listAlertTransitions") { request, context, _ in
            let (_, rule) = try await visibleRule(context)
            let limit = try request.queryInt("limit", default: 100, range: 1...1000)
            let transitions = try await services.store.alertTransitions(rule: rule.id, limit: limit)
            return JSONResponse.encode(AlertTransitionList(transitions: transitions.map(AlertTransitionBody.init)))
        }

        routes.on("listAlerts") { request, context, _ in
            let scope = try context.caller().scope
            let state = try request.queryString("state", maxLength: 8).map { text in
                guard let s = AlertState(rawValue: text), s != .inactive else { throw APIError.invalid("state", "must be pending or firing") }
                return s
            }
            let alerts = try await services.store.activeAlerts(ouIDs: scope.ouIDs.map { Array($0) }, state: state)
            return JSONResponse.encode(AlertList(alerts: alerts.map { rule, s in
                AlertBody(ruleID: rule.id, ruleName: rule.name, series: AlertSeriesBody(s.series), state: s.state.rawValue,
                          since: APITimestamp(millis: s.since), value: s.value, evaluatedAt: APITimestamp(millis: s.evaluatedAt))
            }))
        }

        routes.on("listAlertNotifications") { request, context, _ in
            let scope = try context.caller().scope
            let limit = try request.queryInt("limit", default: 100, range: 1...1000)
            let status = try request.queryString("status", maxLength: 10).map { text in
                guard let s = AlertNotification.Status(rawValue: text) else { throw APIError.invalid("status", "must be pending, delivered or dead") }
                return s
            }
            var rules = try await services.store.alertRules(ouIDs: scope.ouIDs.map { Array($0) }).map(\.id)
            if let only = try request.queryInt64("rule_id") { rules = rules.filter { $0 == only } }
            let notifications = try await services.store.alertNotifications(rules: rules, status: status, limit: limit)
            return JSONResponse.encode(AlertNotificationList(notifications: notifications.map(AlertNotificationBody.init)))
        }
    }
}
