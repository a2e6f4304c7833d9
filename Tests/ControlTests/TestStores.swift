@testable import Control
import Foundation
import Testing
import SQLDatabase

/// The two backends every store test runs against: the embedded SQLite store and a real MariaDB
/// server (started by scripts/test.sh; its URL comes in WADDLEPERF_TEST_MARIADB).
enum TestStores {
    static let environment = ProcessInfo.processInfo.environment
    static var mariadbURL: String? { environment["WADDLEPERF_TEST_MARIADB"] }

    /// "mariadb" is listed whenever a server is configured or required, so a missing server is a
    /// failure in CI rather than a silently smaller suite.
    static let backends: [String] = ["sqlite"] + (mariadbURL != nil || environment["WADDLEPERF_REQUIRE_MARIADB"] == "1" ? ["mariadb"] : [])

    /// A fresh, empty store of `kind`.
    static func backend(_ kind: String) throws -> StoreBackend {
        let unique = "\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        switch kind {
        case "sqlite":
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wp-store-\(unique)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return .embedded(path: dir.appendingPathComponent("store.db").path)
        default:
            guard let url = mariadbURL else {
                throw SQLError(kind: .connection, code: -1, message: "WADDLEPERF_TEST_MARIADB is not set: run scripts/test.sh")
            }
            var configuration = try MariaDBConfiguration(url: url)
            configuration.database = "wp_test_\(unique)"
            return .mariadb(configuration)
        }
    }

    static func open(_ kind: String) async throws -> Store {
        try await Store.open(backend(kind), connections: 2)
    }
}

/// A value shared by concurrent test tasks (a `Mutex` cannot be captured by `addTask`).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}
