import SQLDatabase
import Foundation
import HummingbirdBcrypt
import Synchronization

/// bcrypt (cost 12 in production, ~270 ms of CPU per hash or verify) on its own threads, never on
/// an event loop, and the password policy every new password must meet.
struct PasswordHasher: Sendable {
    let cost: UInt8
    private let threads: BlockingPool<Void>
    /// Password checks made so far (each one bcrypt's full cost).
    var verifications: Int { checks.count.load(ordering: .relaxed) }
    private let checks = Counter()
    private final class Counter: Sendable { let count = Atomic<Int>(0) }

    init(cost: UInt8, threads: Int) {
        self.cost = cost
        // A flood of password checks waits in a bounded queue (then 503), not without end.
        self.threads = BlockingPool(size: threads, name: "password checking", maxQueued: 256, queueTimeout: .seconds(10), factory: {})
    }

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await threads.run { _ in Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        checks.count.add(1, ordering: .relaxed)
        return try await threads.run { _ in Bcrypt.verify(password, hash: hash) }
    }

    func close() { threads.close() }

    /// A hash of a random password at the configured cost: verified against when the username is
    /// unknown, so an unknown user costs the same time as a wrong password.
    static func decoyHash(cost: UInt8) -> String {
        Bcrypt.hash(Secrets.randomHex(bytes: 16), cost: cost)
    }
}

enum PasswordPolicy {
    static let minimumLength = 12
    /// bcrypt ignores everything after 72 bytes; longer passwords would silently be truncated.
    static let maximumBytes = 72

    /// The reason `password` is refused, or nil when it is acceptable.
    static func problem(with password: String, username: String) -> String? {
        // bcrypt stops at a NUL ("ab\u{0}Xy7#…" would log in as "ab"); no control character is typed.
        if password.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters (NUL, newlines, tabs, ...)"
        }
        if password.count < minimumLength { return "must be at least \(minimumLength) characters" }
        if password.utf8.count > maximumBytes { return "must be at most \(maximumBytes) bytes (bcrypt's limit)" }
        if Set(password).count < 5 { return "must use at least 5 different characters" }
        let lower = password.lowercased()
        if !username.isEmpty && lower.contains(username.lowercased()) { return "must not contain the username" }
        if commonPasswords.contains(where: { lower.contains($0) }) { return "is too common" }
        return nil
    }

    private static let commonPasswords = ["password", "123456789", "qwertyuiop", "letmein", "welcome1", "admin123", "waddleperf", "iloveyou", "abc123456"]
}

/// Exponential back-off after failed credential checks, in memory (the per-account lock lives in
/// the store so it holds across servers). Two counters: one per source address (every failure
/// from it, whatever account it named: password spraying) and one per (source, account). A
/// success clears only its own (source, account) counter, never the address's: a login to one's
/// own account does not buy more guesses at others. Past its free attempts each further failure
/// doubles the wait, up to `maximumDelay`; a counter idle for `window` starts again.
final class LoginThrottle: Sendable {
    struct Entry { var failures: Int; var blockedUntil: ContinuousClock.Instant; var lastSeen: ContinuousClock.Instant }
    private let entries = Mutex([String: Entry]())
    /// Failures per (source, account) before the back-off starts.
    let freeAttempts: Int
    /// Failures per source, across accounts, before the back-off starts.
    let freeAttemptsPerSource: Int
    let maximumDelay: Duration
    let window: Duration

    init(freeAttempts: Int = 5, freeAttemptsPerSource: Int = 10, maximumDelay: Duration = .seconds(900), window: Duration = .seconds(900)) {
        self.freeAttempts = freeAttempts
        self.freeAttemptsPerSource = freeAttemptsPerSource
        self.maximumDelay = maximumDelay
        self.window = window
    }

    /// An IPv6 source counts as its /64 (`ClientAddress.throttleKey`).
    private static func keys(_ source: String, _ account: String?) -> (source: String, pair: String?) {
        let source = ClientAddress.throttleKey(source)
        return ("s|" + source, account.map { "a|" + source + "|" + $0.lowercased() })
    }

    /// How long the address (for this account, when one is named) must still wait, or nil.
    func retryAfter(_ source: String, account: String? = nil, now: ContinuousClock.Instant = .now) -> Duration? {
        let keys = Self.keys(source, account)
        return entries.withLock { entries in
            [keys.source, keys.pair].compactMap { key in
                guard let key, let entry = entries[key], entry.blockedUntil > now else { return nil }
                return now.duration(to: entry.blockedUntil)
            }.max()
        }
    }

    func recordFailure(_ source: String, account: String? = nil, now: ContinuousClock.Instant = .now) {
        let keys = Self.keys(source, account)
        entries.withLock { entries in
            if entries.count > 100_000 {
                entries = entries.filter { now - $0.value.lastSeen < window }
            }
            for (key, free) in [(keys.source, freeAttemptsPerSource), (keys.pair, freeAttempts)] {
                guard let key else { continue }
                var entry = entries[key] ?? Entry(failures: 0, blockedUntil: now, lastSeen: now)
                if now - entry.lastSeen >= window && entry.blockedUntil <= now { entry.failures = 0 }
                entry.failures += 1
                entry.lastSeen = now
                if entry.failures >= free {
                    let exponent = min(entry.failures - free, 16)
                    entry.blockedUntil = now + min(.seconds(1 << exponent), maximumDelay)
                }
                entries[key] = entry
            }
        }
    }

    /// Whether `source` has failed for `account` within the window (a locked account still
    /// lets in a source that has not: the lock cannot keep its owner out).
    func hasFailed(_ source: String, account: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard let pair = Self.keys(source, account).pair else { return false }
        return entries.withLock { entries in
            guard let entry = entries[pair] else { return false }
            return entry.failures > 0 && (now - entry.lastSeen < window || entry.blockedUntil > now)
        }
    }

    /// A correct password (and code) for `account` from `source`: that pair starts again; the
    /// address's own count is left as it is.
    func recordSuccess(_ source: String, account: String) {
        guard let pair = Self.keys(source, account).pair else { return }
        _ = entries.withLock { $0.removeValue(forKey: pair) }
    }
}

/// Per-account lockout: after `threshold` consecutive failures the account is locked for a period
/// that doubles with every further failure (1 min, 2 min, ... up to 1 h). The lock holds only
/// against sources that have failed for the account (`LoginThrottle.hasFailed`): an anonymous
/// guesser cannot keep the owner out, who logs in from an address that has not failed.
enum AccountLockout {
    static let threshold = 5

    static func lockedUntil(failures: Int, now: Int64) -> Int64 {
        guard failures >= threshold else { return 0 }
        let minutes = min(Int64(1) << Int64(min(failures - threshold, 6)), 60)
        return now + minutes * 60_000
    }
}
