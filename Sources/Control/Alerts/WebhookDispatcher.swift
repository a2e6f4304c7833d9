import AsyncHTTPClient
import Engine
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle

/// Delivers queued alert notifications to their rules' webhooks: a JSON document, or a
/// Slack-compatible `{"text": ...}`. A delivery is leased while in flight (so two servers do not
/// both send it), retried with exponential back-off (`retryBase` doubling, at most 10 min) and,
/// after `maxAttempts`, left `dead` with its last error: the dead-letter record
/// (`GET /api/v1/alert-notifications?status=dead`). Each carries `Idempotency-Key:
/// alert-notification-<id>` for receivers that deduplicate.
///
/// The webhook's address is checked against the server's target policy at each delivery (after
/// resolution), unless the rule's creator may reach internal addresses.
struct WebhookDispatcher: Service {
    let store: Store
    let policy: TargetPolicy
    let interval: Duration
    let maxAttempts: Int
    let retryBase: Duration
    let logger: Logger

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        // Retries are ours (with back-off, counted): a refused connection fails the attempt now.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        // Each delivery runs on its own: a slow webhook holds up no other (a claimed delivery is
        // leased, so the next rounds leave it alone).
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    for notification in try await store.claimDueNotifications(now: WallClock.nowMillis(), lease: 60_000, limit: 100) {
                        group.addTask { await deliver(notification, client: client) }
                    }
                } catch {
                    logger.error("alert notifications: \(error)")
                }
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                } catch {
                    break
                }
            }
        }
        try? await client.shutdown()
    }

    private func deliver(_ notification: AlertNotification, client: HTTPClient) async {
        let attempts = notification.attempts + 1
        do {
            guard let rule = try await store.alertRule(notification.ruleID), let url = rule.webhookURL else {
                try await store.markNotificationFailed(notification.id, attempts: attempts, error: "the rule or its webhook is gone", retryAt: nil)
                return
            }
            let outcome = await post(notification, rule: rule, url: url, client: client)
            let now = WallClock.nowMillis()
            if let error = outcome {
                let dead = attempts >= maxAttempts || error.permanent
                let delay = min(retryBase.milliseconds << Int64(min(attempts - 1, 20)), 600_000)
                try await store.markNotificationFailed(notification.id, attempts: attempts, error: error.message, retryAt: dead ? nil : now + delay)
                if dead {
                    logger.error("alert notification \(notification.id) (\(rule.name), \(notification.kind)) is dead after \(attempts) attempts: \(error.message)")
                } else {
                    logger.warning("alert notification \(notification.id): \(error.message); retrying in \(delay) ms")
                }
            } else {
                try await store.markNotificationDelivered(notification.id, attempts: attempts, at: now)
            }
        } catch {
            logger.error("alert notification \(notification.id): \(error)")
        }
    }

    private struct Failure {
        var message: String
        /// Retrying cannot help (the address is refused).
        var permanent = false
    }

    private func post(_ n: AlertNotification, rule: AlertRule, url: String, client: HTTPClient) async -> Failure? {
        guard let parsed = URL(string: url), let host = parsed.host else { return Failure(message: "not a URL: \(url)", permanent: true) }
        if !rule.internalWebhook {
            let port = UInt16(parsed.port ?? (parsed.scheme == "https" ? 443 : 80))
            do {
                let target = try TargetSpecification(parsing: host.contains(":") ? "[\(host)]" : host)
                for resolved in try await TargetResolver.resolve([target], defaultPort: port) where resolved.isResolved {
                    if let refusal = policy.refusal(resolved.address, port: port) {
                        return Failure(message: "webhook address refused: \(refusal)", permanent: true)
                    }
                }
            } catch {
                return Failure(message: "webhook host: \(error)")
            }
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "waddleperf-alerts")
        request.headers.add(name: "Idempotency-Key", value: "alert-notification-\(n.id)")
        do {
            request.body = .bytes(ByteBuffer(data: try Self.body(n, rule: rule)))
        } catch {
            return Failure(message: "cannot encode the notification: \(error)", permanent: true)
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 64 << 10)
            if (200..<300).contains(response.status.code) { return nil }
            return Failure(message: "webhook answered \(response.status.code)")
        } catch {
            return Failure(message: "webhook unreachable: \(error)")
        }
    }

    /// The document a webhook receives (`format: json`); Slack's is `{"text": ...}`.
    struct Document: Encodable {
        struct Rule: Encodable {
            var id: Int64
            var name: String
            var metric: String
            var aggregation: String
            var comparison: String
            var threshold: Double
            var windowSeconds: Int
            var forSeconds: Int
            @ExplicitNull var ouID: Int64?

            enum CodingKeys: String, CodingKey {
                case id, name, metric, aggregation, comparison, threshold
                case windowSeconds = "window_s"
                case forSeconds = "for_s"
                case ouID = "ou_id"
            }
        }

        var id: Int64
        var status: String
        var text: String
        var at: APITimestamp
        @ExplicitNull var value: Double?
        var rule: Rule
        var series: AlertSeriesBody
    }

    struct SlackMessage: Encodable {
        var text: String
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The request body for `rule`'s webhook format.
    static func body(_ n: AlertNotification, rule: AlertRule) throws -> Data {
        let what = "\(rule.metric == "success_rate" ? "success_rate" : "\(rule.aggregation.rawValue)(\(rule.metric))") "
            + "\(n.value.map { String(format: "%.3g", $0) } ?? "no data") \(rule.comparison.rawValue) \(rule.threshold)"
        let device = n.series.deviceID.map { " on device \($0)" } ?? ""
        let text = "[\(n.kind.uppercased())] \(rule.name): \(n.series.testType) \(n.series.target)\(device): \(what)"
        switch rule.webhookFormat {
        case .slack:
            return try encoder.encode(SlackMessage(text: text))
        case .json:
            return try encoder.encode(Document(
                id: n.id, status: n.kind, text: text, at: APITimestamp(millis: n.createdAt), value: n.value,
                rule: .init(id: rule.id, name: rule.name, metric: rule.metric, aggregation: rule.aggregation.rawValue,
                            comparison: rule.comparison.rawValue, threshold: rule.threshold, windowSeconds: rule.windowSeconds,
                            forSeconds: rule.forSeconds, ouID: rule.ouID),
                series: AlertSeriesBody(n.series)))
        }
    }
}
