import Foundation
import Logging
import ProbeModel
import ServiceLifecycle
import Synchronization

/// How an agent is set up (`waddleperf agent`, or the server's embedded one).
public struct AgentOptions: Sendable {
    /// The control plane; nil runs the local checks only and prints their results (NDJSON).
    public var server: URL?
    /// Enrols with it when the state directory holds no device token for `server`.
    public var enrollSecret: String?
    /// A token to use instead of enrolling (the server's embedded agent is given one).
    public var token: String?
    public var stateDirectory: String
    public var identity: AgentIdentity
    /// Checks from `--config`, run alongside the server's.
    public var localChecks: [ScheduledCheck] = []
    public var caFile: String?
    /// How often the configuration is fetched (a conditional GET: cheap when unchanged).
    public var pollInterval: Duration = .seconds(30)
    public var heartbeatInterval: Duration = .seconds(30)
    /// How long the uploader waits when the buffer is empty.
    public var uploadInterval: Duration = .seconds(1)
    public var buffer = ResultBuffer.Limits()
    /// Results per upload (the API takes at most 10,000).
    public var uploadBatch = 10_000
    /// On SIGTERM: how long runs in progress may take, and then how long to flush.
    public var grace: Duration = .seconds(10)
    /// Checks due within one window start together in one run (see `CheckScheduler`).
    public var batchWindow: Duration = .milliseconds(25)
    /// Longest wait between upload attempts while the server is away.
    public var maximumBackoff: Duration = .seconds(10)

    public init(server: URL?, stateDirectory: String, identity: AgentIdentity) {
        self.server = server
        self.stateDirectory = stateDirectory
        self.identity = identity
    }
}

/// `waddleperf agent`: runs checks on their schedules (`CheckScheduler`), appends every result to
/// the on-disk buffer (`ResultBuffer`) and uploads it in batches with idempotency keys; fetches
/// its configuration from the server and reports its state in heartbeats. A service: on SIGTERM
/// it stops scheduling, lets runs in progress end (or abandons them after the grace period),
/// and flushes what it can; the rest waits in the buffer for the next start.
public final class Agent: Service, Sendable {
    public let options: AgentOptions
    public let scheduler: CheckScheduler
    private let logger: Logger
    private let state = Mutex(Shared())

    private struct Shared {
        var serverChecks: [ScheduledCheck] = []
        var configError: String?
        var etag: String?
        var lastDropped: Int64 = 0
        /// The first configuration fetch has been tried (the first heartbeat waits for it).
        var configTried = false
    }

    public init(options: AgentOptions, logger: Logger) throws {
        try ScheduledCheck.validate(options.localChecks)
        self.options = options
        self.logger = logger
        scheduler = CheckScheduler(window: options.batchWindow, logger: logger)
    }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: options.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        scheduler.update(options.localChecks)
        guard let server = options.server else {
            try await runLocally()
            return
        }
        let client = try ControlClient(server: server, caFile: options.caFile)
        let buffer = try await ResultBuffer(directory: options.stateDirectory, limits: options.buffer)
        do {
            guard let token = try await credentials(client) else {
                await client.shutdown()
                buffer.close()
                return
            }
            let logger = self.logger
            let schedule = Task {
                await scheduler.run { documents, ids in
                    do { try await buffer.append(documents, checkIDs: ids) } catch { logger.error("buffer: cannot append \(documents.count) results: \(error)") }
                }
            }
            let loops = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.uploadLoop(client, buffer, token) }
                    group.addTask { await self.configLoop(client, token) }
                    group.addTask { await self.heartbeatLoop(client, buffer, token) }
                }
            }
            logger.info("agent running", metadata: ["server": "\(server)", "state": "\(options.stateDirectory)"])
            try? await gracefulShutdown()
            logger.info("stopping: runs in progress get \(options.grace)")
            await scheduler.stop(grace: options.grace)
            await schedule.value
            logger.info("schedule: \(scheduler.statistics.summary)")
            loops.cancel()
            await loops.value
            await flush(client, buffer, token)
        }
        let left = try? await buffer.statistics()
        if let left, left.results > 0 { logger.info("\(left.results) results stay buffered for the next start") }
        buffer.close()
        await client.shutdown()
    }

    /// No server: the checks run and each result is printed as one JSON line.
    private func runLocally() async throws {
        let logger = self.logger
        let schedule = Task {
            await scheduler.run { documents, _ in
                var out = Data()
                for d in documents {
                    do {
                        out.append(contentsOf: try d.jsonBytes())
                        out.append(10)
                    } catch {
                        logger.error("cannot print a result of \(d.testType) \(d.target): \(error)")
                    }
                }
                FileHandle.standardOutput.write(out)
            }
        }
        try? await gracefulShutdown()
        await scheduler.stop(grace: options.grace)
        await schedule.value
        logger.info("schedule: \(scheduler.statistics.summary)")
    }

    // MARK: Enrolment

    /// The device token: given, kept from an earlier enrolment with this server, or from
    /// enrolling now (retried while the server is unreachable). nil when shut down first.
    private func credentials(_ client: ControlClient) async throws -> String? {
        if let token = options.token { return token }
        let server = options.server!.absoluteString
        let kept = try AgentCredentials.load(from: options.stateDirectory)
        if let kept, kept.server == server { return kept.token }
        guard let secret = options.enrollSecret else {
            throw AgentError("not enrolled with \(server): run once with --enroll SECRET (an enrollment secret from the server)")
        }
        var backoff = Backoff(maximum: options.maximumBackoff)
        while !Task.isShuttingDownGracefully {
            do {
                let enrolled = try await client.enroll(secret: secret, identity: options.identity)
                try AgentCredentials(server: server, deviceID: enrolled.device.id, token: enrolled.token).save(in: options.stateDirectory)
                logger.info("enrolled as device \(enrolled.device.id) in OU \(enrolled.device.ouID)", metadata: ["serial": "\(options.identity.serial)"])
                return enrolled.token
            } catch let failure as ControlClient.Failure {
                if case .refused(let status, let message) = failure {
                    throw AgentError("enrolment refused (\(status)): \(message)")
                }
                let wait = backoff.next(after: failure)
                logger.warning("enrolment: \(failure); retrying in \(wait)")
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            }
        }
        return nil
    }

    // MARK: Loops

    /// Drains the buffer batch by batch; backs off (with jitter, honouring Retry-After) while
    /// the server is away or busy.
    private func uploadLoop(_ client: ControlClient, _ buffer: ResultBuffer, _ token: String) async {
        var backoff = Backoff(maximum: options.maximumBackoff)
        while !Task.isCancelled {
            do {
                guard let batch = try await buffer.nextBatch(maxResults: options.uploadBatch) else {
                    try await Task.sleep(for: options.uploadInterval)
                    continue
                }
                if try await upload(batch, client, buffer, token) {
                    backoff.reset()
                } else {
                    try await Task.sleep(for: options.uploadInterval)
                }
            } catch let failure as ControlClient.Failure {
                let wait = backoff.next(after: failure)
                logger.warning("upload: \(failure); retrying in \(wait)")
                try? await Task.sleep(for: wait)
            } catch is CancellationError {
                return
            } catch {
                logger.error("upload: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Sends one batch; true when it left the buffer. A batch the server refuses for good
    /// (400, 413, 422) is dropped and counted, so it does not block those behind it; a refused
    /// credential keeps everything buffered.
    private func upload(_ batch: ResultBuffer.Batch, _ client: ControlClient, _ buffer: ResultBuffer, _ token: String) async throws -> Bool {
        do {
            let replayed = try await client.upload(batch, token: token)
            try await buffer.acknowledge(batch)
            logger.debug("uploaded \(batch.count) results\(replayed ? " (already stored: the earlier answer was lost)" : "")")
            return true
        } catch ControlClient.Failure.refused(let status, let message) where [400, 413, 422].contains(status) {
            logger.error("the server refused \(batch.count) results (\(status)): \(message); dropping them")
            try await buffer.discard(batch)
            return true
        } catch ControlClient.Failure.refused(409, let message) {
            // The same key is being stored by a request still in progress there: wait for it.
            throw ControlClient.Failure.busy(status: 409, retryAfter: 1, message: message)
        }
    }

    /// On the way out: uploads what it can within the grace period. A busy server (429, 5xx,
    /// or a 409 because the upload the shutdown cancelled is still being stored there) is
    /// waited for while the grace period lasts; an unreachable one ends the flush at once.
    private func flush(_ client: ControlClient, _ buffer: ResultBuffer, _ token: String) async {
        let deadline = ContinuousClock.now + options.grace
        while ContinuousClock.now < deadline {
            do {
                guard let batch = try await buffer.nextBatch(maxResults: options.uploadBatch) else { return }
                _ = try await upload(batch, client, buffer, token)
            } catch ControlClient.Failure.busy(let status, let retryAfter, let message) {
                let wait = Duration.milliseconds(Int64((retryAfter ?? 0.5) * 1000))
                guard ContinuousClock.now + wait < deadline else {
                    logger.info("flush stopped: server busy (\(status)): \(message); no time left to wait \(wait)")
                    return
                }
                logger.debug("flush: server busy (\(status)); waiting \(wait)")
                try? await Task.sleep(for: wait)
            } catch {
                logger.info("flush stopped: \(error)")
                return
            }
        }
    }

    /// Fetches the configuration at once, then every poll period; a refused one is logged and
    /// reported, and the last good one keeps running.
    private func configLoop(_ client: ControlClient, _ token: String) async {
        while !Task.isCancelled {
            do {
                let etag = state.withLock { $0.etag }
                if let config = try await client.config(token: token, etag: etag) {
                    apply(config)
                }
            } catch {
                logger.warning("config: \(error)")
            }
            state.withLock { $0.configTried = true }
            try? await Task.sleep(for: options.pollInterval)
        }
    }

    /// Applies the server's checks (with the local ones; a local check wins a shared name).
    func apply(_ config: ControlClient.DeviceConfig) {
        do {
            try ScheduledCheck.validate(config.checks, path: "config.checks")
        } catch {
            let reason = "\(error)"
            let first = state.withLock { s in
                defer { s.configError = reason; s.etag = config.etag }
                return s.configError != reason
            }
            if first { logger.error("refused the server's configuration, keeping the last good one: \(reason)") }
            return
        }
        let localIDs = Set(options.localChecks.map(\.id))
        let shadowed = config.checks.filter { localIDs.contains($0.id) }.map(\.id)
        if !shadowed.isEmpty { logger.warning("local checks replace the server's of the same name: \(shadowed.joined(separator: ", "))") }
        let server = config.checks.filter { !localIDs.contains($0.id) }
        state.withLock { s in
            s.serverChecks = server
            s.configError = nil
            s.etag = config.etag
        }
        scheduler.update(options.localChecks + server)
        logger.info("configuration \(config.name.map { "'\($0)' " } ?? "")applied: \(server.count) checks from the server, \(options.localChecks.count) local")
    }

    public func status(buffer: ResultBuffer.Statistics?) -> AgentStatus {
        let s = scheduler.statistics
        var status = AgentStatus()
        status.version = AgentInfo.version
        status.checksConfigured = s.configured
        status.checksRunning = s.running
        status.runs = s.runs
        status.skippedRuns = s.skipped
        status.configError = state.withLock { $0.configError }
        if let buffer {
            status.bufferResults = buffer.results
            status.bufferBytes = buffer.bytes
            status.bufferOldestMS = buffer.oldestCreatedAt.map { max(0, Int64(Date().timeIntervalSince1970 * 1000) - $0) }
            status.droppedResults = buffer.dropped
            status.lastUploadAt = buffer.lastUploadAt
        }
        return status
    }

    private func heartbeatLoop(_ client: ControlClient, _ buffer: ResultBuffer, _ token: String) async {
        // The first heartbeat reports the server's checks, not the moment before they arrived.
        for _ in 0..<100 where !state.withLock({ $0.configTried }) { try? await Task.sleep(for: .milliseconds(50)) }
        while !Task.isCancelled {
            let statistics: ResultBuffer.Statistics
            do {
                try await buffer.expire()
                statistics = try await buffer.statistics()
            } catch {
                // No heartbeat rather than one that reports an empty buffer: the device going
                // stale says something is wrong here.
                logger.error("buffer: \(error); no heartbeat this round")
                try? await Task.sleep(for: options.heartbeatInterval)
                continue
            }
            let dropped = statistics.dropped
            let before = state.withLock { s in defer { s.lastDropped = dropped }; return s.lastDropped }
            if dropped > before {
                logger.warning("dropped \(dropped - before) results: the buffer was full or they were too old (\(dropped) in all)")
            }
            do {
                try await client.heartbeat(status(buffer: statistics), token: token)
            } catch let failure as ControlClient.Failure {
                // An unreachable server is the upload loop's to report; a refusal is this loop's.
                if case .refused = failure { logger.warning("heartbeat: \(failure)") } else { logger.debug("heartbeat: \(failure)") }
            } catch {
                logger.error("heartbeat: \(error)")
            }
            try? await Task.sleep(for: options.heartbeatInterval)
        }
    }
}

/// Exponential back-off with full jitter, from 1 s up to `maximum`; a server's Retry-After is
/// a floor.
struct Backoff {
    let maximum: Duration
    private var attempt = 0

    init(maximum: Duration) { self.maximum = maximum }

    mutating func reset() { attempt = 0 }

    mutating func next(after failure: ControlClient.Failure) -> Duration {
        let cap = min(Double(1 << min(attempt, 16)), Double(maximum.components.seconds))
        attempt += 1
        var seconds = Double.random(in: cap / 2...cap)
        if case .busy(_, let retryAfter?, _) = failure { seconds = max(seconds, retryAfter) }
        return .milliseconds(Int64(seconds * 1000))
    }
}
