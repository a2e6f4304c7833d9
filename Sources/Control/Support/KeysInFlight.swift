import Synchronization

/// Keys some request on this server is working on: a second request with the same key waits
/// its turn (409 and Retry-After) rather than racing the first.
final class KeysInFlight: Sendable {
    private let keys = Mutex<Set<String>>([])

    /// True when `key` was free and is now this caller's until `release`.
    func claim(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }

    func release(_ key: String) { _ = keys.withLock { $0.remove(key) } }
}
