import Foundation

/// The real peers scripts/http-peers.sh starts (nginx with the suite's test
/// CA, and Tests/peers/misbehave.py); the test command sets
/// WADDLEPERF_TEST_HTTP_PEERS to their directory and WADDLEPERF_REQUIRE_HTTP_PEERS
/// to turn a skip into a failure.
public struct HTTPPeers: Sendable {
    public let values: [String: String]

    public static let current: HTTPPeers? = {
        guard let dir = ProcessInfo.processInfo.environment["WADDLEPERF_TEST_HTTP_PEERS"],
              let text = try? String(contentsOfFile: dir + "/peers.env", encoding: .utf8) else { return nil }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        return HTTPPeers(values: values)
    }()

    /// The suite runs when the peers are there, and when they must be (then each test fails,
    /// saying so, rather than the suite being skipped).
    public static var available: Bool {
        current != nil || ProcessInfo.processInfo.environment["WADDLEPERF_REQUIRE_HTTP_PEERS"] != nil
    }

    public func port(_ name: String) -> Int { Int(values[name]!)! }
    public var ca: String { values["CA"]! }
    public func url(_ port: String, _ path: String, secure: Bool = false, host: String = "127.0.0.1") -> String {
        "\(secure ? "https" : "http")://\(host):\(self.port(port))\(path)"
    }
}

