import Synchronization

/// Per-principal limits, so one caller cannot take what everyone shares: a request rate (a token
/// bucket per principal: `rate` requests a second, bursts of `burst`) and a share of the result
/// writer's queue (rows waiting to be written). Past either, that principal alone gets 429 with
/// Retry-After. A principal is a user (all their tokens, sessions and keys together), a device or
/// a server key.
final class PrincipalQuotas: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
        var queuedRows: [String: Int] = [:]
    }

    /// Requests a second per principal (nil: no rate limit) and the burst above it.
    let rate: Double?
    let burst: Double
    /// Rows one principal may have waiting in the writer's queue. A principal with nothing
    /// waiting may always submit one upload, whatever its size (as the queue itself allows).
    let queuedRowShare: Int
    private let state = Mutex(State())

    init(rate: Double?, burst: Double, queuedRowShare: Int) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.queuedRowShare = queuedRowShare
    }

    /// Takes one request from `key`'s bucket; the seconds to wait when it is empty.
    func admitRequest(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        guard let rate else { return nil }
        return state.withLock { state -> Int? in
            if state.buckets.count > 100_000 {
                // Forget principals whose bucket has refilled: they are where a new one starts.
                state.buckets = state.buckets.filter { now - $0.value.updated < .seconds(burst / rate) }
            }
            var bucket = state.buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated).inSeconds * rate)
            bucket.updated = now
            defer { state.buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Reserves `rows` of `key`'s share of the writer's queue; false when the share is taken.
    func reserveRows(_ key: String, _ rows: Int) -> Bool {
        state.withLock { state in
            let queued = state.queuedRows[key] ?? 0
            guard queued == 0 || queued + rows <= queuedRowShare else { return false }
            state.queuedRows[key] = queued + rows
            return true
        }
    }

    /// Gives back rows reserved by `reserveRows` once they are written (or refused).
    func releaseRows(_ key: String, _ rows: Int) {
        state.withLock { state in
            let left = (state.queuedRows[key] ?? 0) - rows
            state.queuedRows[key] = left > 0 ? left : nil
        }
    }
}

extension Principal {
    /// Whose quota a request counts against: the user behind any of their credentials, the
    /// device, or the server key.
    var quotaKey: String {
        switch credential {
        case .serverKey(let id): "k\(id)"
        case .device(let id): "d\(id)"
        default: user.map { "u\($0.id)" } ?? "anonymous"
        }
    }
}
