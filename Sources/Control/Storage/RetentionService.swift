import Logging
import ServiceLifecycle

/// Every interval until graceful shutdown (a sleep in progress ends at once; a deletion stops
/// between chunks): deletes results older than their retention, audit entries older than
/// theirs, and tokens and sessions some time after they expired, so no table only grows.
struct RetentionService: Service {
    let store: Store
    /// nil keeps every result.
    let results: Duration?
    /// nil keeps every audit entry.
    let audit: Duration?
    let expiredCredentials: Duration
    let idempotencyWindow: Duration
    let interval: Duration
    let logger: Logger

    /// One round; also what the tests call.
    func runOnce(now: Int64 = WallClock.nowMillis()) async {
        func cutoff(_ age: Duration) -> Int64 { now - Int64(age.components.seconds) * 1000 }
        do {
            if let results {
                // Chunk by chunk; a backlog does not hold up shutdown.
                let deleted = try await store.deleteResults(olderThan: cutoff(results)) { !Task.isShuttingDownGracefully && !Task.isCancelled }
                if deleted > 0 { logger.info("retention: deleted \(deleted) results older than \(results)") }
            }
            if let audit {
                let deleted = try await store.deleteAuditEntries(olderThan: cutoff(audit))
                if deleted > 0 { logger.info("retention: deleted \(deleted) audit entries older than \(audit)") }
            }
            let keys = try await store.deleteUploadKeys(olderThan: cutoff(idempotencyWindow))
            if keys > 0 { logger.info("retention: forgot \(keys) upload idempotency keys older than \(idempotencyWindow)") }
            let (tokens, sessions) = try await store.deleteExpiredCredentials(before: cutoff(expiredCredentials))
            if tokens + sessions > 0 { logger.info("retention: deleted \(tokens) expired tokens and \(sessions) expired sessions") }
        } catch {
            logger.error("retention: \(error)")
        }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await runOnce()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
