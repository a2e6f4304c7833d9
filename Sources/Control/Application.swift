import Engine
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// The control plane as a Hummingbird application plus the services behind it. `run` runs them
/// all in one `ServiceGroup`.
public struct ControlPlane: Sendable {
    public let application: Application<RouterResponder<ControlContext>>
    public let services: ControlServices
    /// The test server: tests run here on request.
    public let tests: TestRunner

    /// What runs beside the HTTP server: the result writer, retention, the test server (stopped
    /// before the writer, so what running tests measured is stored), alert evaluation and
    /// webhook delivery.
    var backgroundServices: [any Service] { [services.writer, retention, tests, alerts, webhooks] }

    var alerts: AlertEvaluator {
        AlertEvaluator(store: services.store, interval: services.configuration.alertInterval, logger: services.logger)
    }

    var webhooks: WebhookDispatcher {
        let c = services.configuration
        return WebhookDispatcher(store: services.store, policy: c.targetPolicy, interval: .milliseconds(250), maxAttempts: c.webhookAttempts,
                                 retryBase: c.webhookRetry, logger: services.logger)
    }

    var retention: RetentionService {
        let c = services.configuration
        return RetentionService(store: services.store, results: c.resultRetention, audit: c.auditRetention,
                                expiredCredentials: c.expiredCredentialGrace,
                                idempotencyWindow: c.idempotencyWindow, interval: c.retentionInterval, logger: services.logger)
    }

    /// Runs the HTTP server, the result writer, retention and `extra` (the echo responder, say)
    /// until one of `signals` arrives or a service fails. Shutdown goes in reverse order: the
    /// server stops taking requests and finishes those in flight, then `extra` stop, then
    /// the test server (running tests are cancelled and store what they measured), then
    /// retention, then the writer commits everything queued; the store closes last.
    /// `clients` start after the HTTP server and stop before it (the embedded agent flushes to
    /// a server still answering).
    public func run(with extra: [any Service] = [], clients: [any Service] = [], signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: (backgroundServices + extra + [application] + clients).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: signals, logger: services.logger))
        do {
            try await group.run()
        } catch {
            await services.shutdown()
            throw error
        }
        await services.shutdown()
    }
}

public func buildApplication(_ configuration: ControlConfiguration, logger: Logger = Logger(label: "waddleperf.control"),
                             onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws -> ControlPlane {
    let secret: String
    if let configured = configuration.jwtSecret {
        secret = configured
    } else if configuration.development {
        secret = Secrets.randomHex(bytes: 32)
        logger.warning("development mode: using a random JWT secret; tokens and MFA secrets do not survive a restart")
    } else {
        throw ConfigurationError(field: "jwt_secret", "is required: set WADDLEPERF_JWT_SECRET (at least 32 bytes) or pass --dev")
    }
    let store = try await Store.open(configuration.store, connections: configuration.databaseConnections, limits: configuration.databaseLimits)
    let services = await ControlServices(configuration: configuration, store: store, jwtSecret: secret, logger: logger)
    do {
        try await bootstrapAdmin(services, logger: logger)
    } catch {
        await services.shutdown()
        throw error
    }

    let router = Router(context: ControlContext.self, options: .autoGenerateHeadEndpoints)
    // Access log at debug: method, path and status, never headers (credentials live there).
    router.add(middleware: LogRequestsMiddleware(.debug))
    if !configuration.trustedProxies.isEmpty {
        router.add(middleware: ClientAddressMiddleware(trustedProxies: configuration.trustedProxies))
    }
    let metrics = ServerMetrics()
    services.writer.batchRecorder.withLock { $0 = metrics.batchRows }
    services.store.pool.observeWaits(metrics.databaseWait)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: SecurityHeadersMiddleware(strictTransport: configuration.secureCookies))
    router.add(middleware: ErrorMiddleware())
    if configuration.webRoot != "off" {
        let directory = configuration.webRoot ?? WebUIFiles.defaultDirectory()
        let files = directory.flatMap(WebUIFiles.init(directory:))
        if let directory, files == nil { logger.warning("web UI: \(directory) holds no index.html (scripts/build-web.sh builds it)") }
        router.add(middleware: WebUIMiddleware<ControlContext>(files: files))
    }
    router.add(middleware: AuthenticationMiddleware(services: services))
    var routes = Routes(router: router, bodyTimeout: configuration.bodyTimeout, quotas: services.quotas)
    SystemController(services: services).register(&routes)
    AuthController(services: services).register(&routes)
    UsersController(services: services).register(&routes)
    OUController(services: services).register(&routes)
    ResultsController(services: services).register(&routes)
    DevicesController(services: services, metrics: metrics).register(&routes)
    ConfigsController(services: services).register(&routes)
    AlertsController(services: services).register(&routes)
    let tests = TestRunner(limits: configuration.testLimits, policy: configuration.targetPolicy, writer: services.writer,
                           metrics: metrics, logger: logger)
    TestsController(services: services, runner: tests).register(&routes)
    SpeedTestController(services: services).register(&routes)
    LegacyTestController(runner: tests).register(&routes)
    let exporter = ExporterAccess(mode: configuration.probeAccess)
    ProbeController(modules: configuration.probeModules, access: exporter, policy: configuration.targetPolicy, metrics: metrics)
        .register(&routes)
    MetricsController(access: exporter, metrics: metrics, writer: services.writer, tests: tests, resultPages: services.resultPages).register(&routes)
    routes.finish()

    let application = Application(
        router: router,
        server: ConnectionLimits.server(idleTimeout: configuration.idleTimeout, router: router),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "waddleperf"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    return ControlPlane(application: application, services: services, tests: tests)
}

/// Creates the first global admin when the store has no users: from configuration, or with a
/// one-time password printed once to the log.
func bootstrapAdmin(_ services: ControlServices, logger: Logger) async throws {
    guard try await services.store.countUsers() == 0 else { return }
    let username = services.configuration.adminUsername
    let password: String
    if let configured = services.configuration.adminPassword {
        if let problem = PasswordPolicy.problem(with: configured, username: username) {
            throw ConfigurationError(field: "admin_password", problem)
        }
        password = configured
    } else {
        password = Secrets.randomHex(bytes: 12)
    }
    _ = try await services.store.createUser(NewUser(username: username, email: nil, passwordHash: try await services.hasher.hash(password),
                                                    role: .globalAdmin, ouID: nil,
                                                    mustChangePassword: services.configuration.adminPassword == nil))
    await services.audit(actor: "system", userID: nil, action: "user.create", subject: "user:\(username)", source: "", detail: "first global admin")
    if services.configuration.adminPassword == nil {
        // Printed once, never stored in clear; it opens only the password change.
        logger.notice("created the first global admin '\(username)' with one-time password: \(password) (log in and change it: POST /api/v1/auth/password; nothing else answers until then)")
    } else {
        logger.notice("created the first global admin '\(username)' from configuration")
    }
}

