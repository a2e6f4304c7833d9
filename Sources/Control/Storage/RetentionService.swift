import Logging
import ServiceLifecycle

/// Deletes results older than the retention period, in bounded chunks, every interval, until
/// graceful shutdown (a sleep in progress ends at once; a deletion in progress finishes).
struct RetentionService: Service {
    let store: Store
    let retention: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let cutoff = WallClock.nowMillis() - Int64(retention.components.seconds) * 1000
            do {
                // Chunk by chunk; a backlog does not hold up shutdown.
                let deleted = try await store.deleteResults(olderThan: cutoff) { !Task.isShuttingDownGracefully && !Task.isCancelled }
                if deleted > 0 { logger.info("retention: deleted \(deleted) results older than \(retention)") }
            } catch {
                logger.error("retention: \(error)")
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
