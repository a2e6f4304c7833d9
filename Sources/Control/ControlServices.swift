import Foundation
import Logging

/// Everything the controllers share.
public final class ControlServices: Sendable {
    public let configuration: ControlConfiguration
    public let store: Store
    public let writer: ResultWriter
    let hasher: PasswordHasher
    let tokens: TokenIssuer
    let secretBox: SecretBox
    let credentials: CredentialCache
    /// Rendered pages of the result listing (see `ResultPageCache`).
    let resultPages: ResultPageCache
    let audit: AuditLog
    let login: LoginPolicy
    let quotas: PrincipalQuotas
    /// Idempotency keys of uploads in progress here (see `ResultsController`).
    let uploadsInFlight = KeysInFlight()
    let logger: Logger

    init(configuration: ControlConfiguration, store: Store, jwtSecret: String, logger: Logger) async {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        writer = ResultWriter(store: store, configuration: configuration.writer)
        hasher = PasswordHasher(cost: configuration.bcryptCost, threads: configuration.bcryptThreads)
        tokens = await TokenIssuer(secret: jwtSecret, lifetime: configuration.tokenLifetime)
        secretBox = SecretBox(masterSecret: jwtSecret)
        credentials = CredentialCache(maxAge: configuration.authCacheTTL)
        resultPages = ResultPageCache(maxAge: configuration.resultsCacheTTL)
        audit = AuditLog(store: store, logger: logger)
        quotas = PrincipalQuotas(rate: configuration.rateLimit, burst: configuration.rateBurst,
                                 queuedRowShare: max(1, configuration.writer.maxQueuedRows * configuration.uploadSharePercent / 100))
        login = LoginPolicy(store: store, hasher: hasher, secretBox: secretBox, audit: audit,
                            decoyHash: PasswordHasher.decoyHash(cost: configuration.bcryptCost))
    }

    /// Drains the result writer, then closes the store and the bcrypt threads (on a thread of
    /// their own: closing waits for their queued work). Idempotent.
    public func shutdown() async {
        await writer.drain()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread { [hasher, store] in
                hasher.close()
                store.close()
                continuation.resume()
            }.start()
        }
    }
}
