import Engine
import Foundation
import Hummingbird
import Logging

/// The control plane as a Hummingbird application plus the services behind it. Run it with
/// `try await application.runService()`, then call `services.shutdown()` to drain the result writer.
public struct ControlPlane: Sendable {
    public let application: Application<RouterResponder<ControlContext>>
    public let services: ControlServices
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
    let store = try await Store.open(configuration.store, connections: configuration.databaseConnections)
    let services = await ControlServices(configuration: configuration, store: store, jwtSecret: secret, logger: logger)
    do {
        try await bootstrapAdmin(services, logger: logger)
    } catch {
        services.shutdown()
        throw error
    }
    services.startRetention()

    let router = Router(context: ControlContext.self)
    // Access log at debug: method, path and status, never headers (credentials live there).
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthenticationMiddleware(services: services))
    var routes = Routes(router: router)
    SystemController(services: services).register(&routes)
    AuthController(services: services).register(&routes)
    UsersController(services: services).register(&routes)
    OUController(services: services).register(&routes)
    ResultsController(services: services).register(&routes)
    DevicesController(services: services).register(&routes)
    ConfigsController(services: services).register(&routes)
    routes.finish()

    let application = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "waddleperf"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    return ControlPlane(application: application, services: services)
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
                                                    role: .globalAdmin, ouID: nil))
    await services.audit(actor: "system", userID: nil, action: "user.create", subject: "user:\(username)", source: "", detail: "first global admin")
    if services.configuration.adminPassword == nil {
        // Printed once, never stored in clear: change it after the first login.
        logger.notice("created the first global admin '\(username)' with one-time password: \(password)")
    } else {
        logger.notice("created the first global admin '\(username)' from configuration")
    }
}

extension ControlServices {
    /// Deletes results older than the retention period, in bounded chunks, every interval.
    func startRetention() {
        guard let retention = configuration.resultRetention else { return }
        let interval = configuration.retentionInterval
        let task = Task.detached { [store, logger] in
            while !Task.isCancelled {
                let cutoff = WallClock.nowMillis() - Int64(retention.components.seconds) * 1000
                do {
                    let deleted = try await store.deleteResults(olderThan: cutoff)
                    if deleted > 0 { logger.info("retention: deleted \(deleted) results older than \(retention)") }
                } catch {
                    logger.error("retention: \(error)")
                }
                try? await Task.sleep(for: interval)
            }
        }
        retentionTask.withLock { $0 = task }
    }
}
