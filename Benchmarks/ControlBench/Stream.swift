// waddleperf-bench stream: server-side tests watched by many WebSocket viewers.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import TestSupport

/// CLOCK_MONOTONIC, nanoseconds: the clock the engine stamps `engine_ns` with (cprobe_monotonic_ns).
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// `waddleperf-bench stream PORT TOKEN TESTS VIEWERS COUNT INTERVAL_MS [KIND TARGET]`
///
/// Runs TESTS tests one after another through POST /api/v1/tests (each COUNT probes,
/// INTERVAL_MS apart, default icmp to 127.0.0.1), each watched by VIEWERS WebSocket viewers on
/// threads of their own. Every probe frame's latency is the viewer's CLOCK_MONOTONIC at receipt
/// less the frame's `engine_ns` (when the engine handed the result out). Prints one JSON line:
/// tests/s, probes/s, frames delivered and dropped, and the event latency's p50/p99/max.
func stream(_ arguments: [String]) async throws {
    guard arguments.count >= 6, let port = Int(arguments[0]), let tests = Int(arguments[2]), let viewers = Int(arguments[3]),
          let count = Int(arguments[4]), let interval = Int(arguments[5]) else {
        fail("usage: stream PORT TOKEN TESTS VIEWERS COUNT INTERVAL_MS [KIND TARGET]")
    }
    let token = arguments[1]
    let kind = arguments.count > 6 ? arguments[6] : "icmp"
    let target = arguments.count > 7 ? arguments[7] : "127.0.0.1"
    let latencies = Locked<[UInt64]>([])
    let delivered = Locked(0), dropped = Locked(0)
    let clock = ContinuousClock()
    let started = clock.now
    var probes = 0
    for _ in 0..<tests {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/tests")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["kind": kind, "target": target, "count": count, "interval_ms": interval])
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 202,
              let id = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["id"] as? String else {
            fail("POST /api/v1/tests: \(String(decoding: data, as: UTF8.self))")
        }
        probes += count
        // Every viewer on a thread of its own, reading until the stream closes.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<viewers {
                group.addTask {
                    try await offPool {
                        let ws = try WebSocketTestClient(port: port, path: "/api/v1/tests/\(id)/stream", headers: ["Authorization": "Bearer \(token)"])
                        guard ws.status == 101 else { throw WebSocketTestClient.Failure("upgrade: \(ws.status) \(ws.refusal)") }
                        var mine: [UInt64] = []
                        mine.reserveCapacity(count)
                        var lost = 0, replayed = 0
                        loop: while true {
                            switch try ws.receive() {
                            case .close: break loop
                            case .text(let text):
                                let now = monotonicNanoseconds()
                                // Probe frames end with "engine_ns":N}; read it without a JSON parser. A
                                // replayed one (the viewer joined after it) is counted, not timed.
                                if text.hasPrefix("{\"type\":\"probe\""), text.contains("\"replayed\":true") {
                                    replayed += 1
                                } else if text.hasPrefix("{\"type\":\"probe\""), let range = text.range(of: "\"engine_ns\":") {
                                    let digits = text[range.upperBound...].prefix { $0.isNumber }
                                    if let stamped = UInt64(digits), now >= stamped { mine.append(now - stamped) }
                                } else if text.hasPrefix("{\"type\":\"result\""), let range = text.range(of: "\"dropped\":") {
                                    lost = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
                                }
                            }
                        }
                        let (frames, lostFrames) = (mine.count + replayed, lost)
                        latencies.withLock { $0 += mine }
                        delivered.withLock { $0 += frames }
                        dropped.withLock { $0 += lostFrames }
                    }
                }
            }
            try await group.waitForAll()
        }
        // The next test starts once this one is over (without viewers nothing else waits for it).
        while true {
            var poll = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/tests/\(id)")!)
            poll.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (body, _) = try await URLSession.shared.data(for: poll)
            if (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["status"] as? String != "running" { break }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
    let seconds = (clock.now - started) / .seconds(1)
    let sorted = latencies.withLock { $0.sorted() }
    func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return Double(sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)]) / 1e6
    }
    print("{\"mode\":\"stream\",\"tests\":\(tests),\"viewers\":\(viewers),\"probes\":\(probes),\"seconds\":\(String(format: "%.3f", seconds)),"
          + "\"tests_per_second\":\(String(format: "%.2f", Double(tests) / seconds)),\"probes_per_second\":\(Int(Double(probes) / seconds)),"
          + "\"frames\":\(delivered.withLock { $0 }),\"dropped\":\(dropped.withLock { $0 }),"
          + "\"latency_ms\":{\"p50\":\(String(format: "%.3f", percentile(50))),\"p99\":\(String(format: "%.3f", percentile(99))),"
          + "\"max\":\(String(format: "%.3f", percentile(100)))}}")
}

/// A value shared by the viewer threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
