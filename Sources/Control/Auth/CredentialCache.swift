import Crypto
import Synchronization

/// Remembers who a presented credential (a JWT, an API key, a device token, a session cookie, a
/// server key) proved to be, so a repeated request skips the signature check and the database
/// trip. Bounded in entries and in age.
///
/// Revocation stays immediate: every store write an authentication decision depends on (users,
/// tokens, keys, sessions, devices, units) advances `Store.authenticationEpoch` after it commits,
/// and an entry is used only while the epoch it was read under is still current. A lookup that
/// raced such a write was stamped with the older epoch, so it is never served.
///
/// What another server of a cluster revokes reaches this one when the entry ages out
/// (`auth_cache_ttl`; 0 turns the cache off).
final class CredentialCache: Sendable {
    /// A credential as its SHA-256 digest: the cache never holds a secret in the clear.
    struct Key: Hashable, Sendable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64

        /// Random per process and hashed first: a digest of a Basic `user:password` kept here
        /// cannot be checked against guesses by anyone who reads it without this.
        static let pepper: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }

        init(scheme: UInt8, _ credential: Substring) {
            var hasher = SHA256()
            hasher.update(data: Self.pepper)
            hasher.update(data: [scheme])
            var text = String(credential)
            text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            hasher.finalize().withUnsafeBytes { digest in
                words = (digest.loadUnaligned(fromByteOffset: 0, as: UInt64.self), digest.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                         digest.loadUnaligned(fromByteOffset: 16, as: UInt64.self), digest.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            }
            (a, b, c, d) = words
        }
    }

    struct Entry: Sendable {
        var principal: Principal
        /// The session's CSRF token hash, for cookie sessions.
        var csrfHash: String?
        /// Milliseconds since the epoch after which the entry is not used (never past the
        /// credential's own expiry).
        var expiresAt: Int64
        var epoch: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
    }

    let capacity: Int
    let maxAgeMillis: Int64
    private let state = Mutex(State())

    init(capacity: Int = 16_384, maxAge: Duration) {
        self.capacity = capacity
        self.maxAgeMillis = maxAge.milliseconds
    }

    var enabled: Bool { maxAgeMillis > 0 && capacity > 0 }

    /// The entry for `key` if it was read under `epoch` (the store's current one) and has not aged out.
    func lookup(_ key: Key, epoch: UInt64, now: Int64) -> Entry? {
        guard enabled else { return nil }
        return state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard entry.epoch == epoch, now < entry.expiresAt else {
                state.entries[key] = nil
                return nil
            }
            return entry
        }
    }

    /// Remembers what the store said under `entry.epoch`, read before the store was asked; an
    /// entry read under an epoch that is no longer `current` (it raced a change) is not kept.
    /// When the cache is full, stale and expired entries go first, then half of the rest.
    func insert(_ key: Key, _ entry: Entry, now: Int64, current: UInt64) {
        guard enabled, entry.epoch == current else { return }
        var entry = entry
        entry.expiresAt = min(entry.expiresAt, now + maxAgeMillis)
        state.withLock { state in
            if state.entries.count >= capacity {
                state.entries = state.entries.filter { $0.value.epoch == current && now < $0.value.expiresAt }
                if state.entries.count >= capacity {
                    for evicted in state.entries.keys.prefix(state.entries.count / 2) { state.entries[evicted] = nil }
                }
            }
            state.entries[key] = entry
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
