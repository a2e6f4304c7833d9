import Foundation
import HummingbirdBcrypt
import Synchronization

/// bcrypt (cost 12 in production, ~270 ms of CPU per hash or verify) on its own threads, never on
/// an event loop, and the password policy every new password must meet.
struct PasswordHasher: Sendable {
    let cost: UInt8
    private let threads: BlockingPool<Void>

    init(cost: UInt8, threads: Int) {
        self.cost = cost
        self.threads = BlockingPool(size: threads, name: "bcrypt", factory: {})
    }

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await threads.run { _ in Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await threads.run { _ in Bcrypt.verify(password, hash: hash) }
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

/// Exponential back-off after failed logins, per source address, in memory (the per-account
/// lock lives in the store so it holds across servers). After `freeAttempts` failures each further
/// failure doubles the wait, up to `maximumDelay`.
final class LoginThrottle: Sendable {
    struct Entry { var failures: Int; var blockedUntil: ContinuousClock.Instant; var lastSeen: ContinuousClock.Instant }
    private let entries = Mutex([String: Entry]())
    let freeAttempts: Int
    let maximumDelay: Duration

    init(freeAttempts: Int = 5, maximumDelay: Duration = .seconds(900)) {
        self.freeAttempts = freeAttempts
        self.maximumDelay = maximumDelay
    }

    /// How long the address must still wait, or nil when it may try now.
    func retryAfter(_ address: String, now: ContinuousClock.Instant = .now) -> Duration? {
        entries.withLock { entries in
            guard let entry = entries[address], entry.blockedUntil > now else { return nil }
            return now.duration(to: entry.blockedUntil)
        }
    }

    func recordFailure(_ address: String, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count > 100_000 {
                entries = entries.filter { now - $0.value.lastSeen < .seconds(3600) }
            }
            var entry = entries[address] ?? Entry(failures: 0, blockedUntil: now, lastSeen: now)
            entry.failures += 1
            entry.lastSeen = now
            if entry.failures >= freeAttempts {
                let exponent = min(entry.failures - freeAttempts, 16)
                entry.blockedUntil = now + min(.seconds(1 << exponent), maximumDelay)
            }
            entries[address] = entry
        }
    }

    func recordSuccess(_ address: String) {
        _ = entries.withLock { $0.removeValue(forKey: address) }
    }
}

/// Per-account lockout: after `threshold` consecutive failures the account is locked for a period
/// that doubles with every further failure (1 min, 2 min, ... up to 1 h).
enum AccountLockout {
    static let threshold = 5

    static func lockedUntil(failures: Int, now: Int64) -> Int64 {
        guard failures >= threshold else { return 0 }
        let minutes = min(Int64(1) << Int64(min(failures - threshold, 6)), 60)
        return now + minutes * 60_000
    }
}
