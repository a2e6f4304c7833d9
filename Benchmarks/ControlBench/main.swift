// waddleperf-bench: the Swift halves of the control-plane benchmarks (Benchmarks/control.sh).
//
//   waddleperf-bench writer DATABASE ROWS [SUBMITTERS] [ROWS_PER_SUBMISSION]
//       Pushes ROWS result rows through ResultWriter from SUBMITTERS concurrent tasks, each
//       awaiting its acknowledgement (= commit) before submitting again, like HTTP uploaders.
//       DATABASE is sqlite://PATH or mariadb://user@host:port/db. Prints one JSON line.
//   waddleperf-bench stream PORT TOKEN TESTS VIEWERS COUNT INTERVAL_MS [KIND TARGET]
//       Server-side tests watched by VIEWERS WebSocket viewers each (Stream.swift): tests/s,
//       probes/s and the event latency from the engine to each viewer.
//   waddleperf-bench hello PORT
//       A bare Hummingbird route (GET /hello), the framework's ceiling for the REST benchmark.
import Control
import Foundation
import Hummingbird

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("waddleperf-bench: \(message)\n".utf8))
    exit(2)
}

/// The row store_ceiling.c writes for index `i`.
func row(_ i: Int, now: Int64) -> ResultRow {
    var row = ResultRow(createdAt: now, source: "client", testType: "icmp", target: "host-\(i % 1000).example", outcome: "success", success: true)
    let latency = 0.2 + Double(i % 100) * 0.01
    row.resolvedAddress = "192.0.2.\(i % 250)"
    row.sent = 10; row.received = 10; row.metrics["loss_percent"] = 0
    row.metrics["latency_ms"] = latency; row.metrics["min_ms"] = latency - 0.05; row.metrics["max_ms"] = latency + 0.1; row.metrics["p50_ms"] = latency; row.metrics["p99_ms"] = latency + 0.08
    row.metrics["jitter_ms"] = 0.01; row.metrics["stddev_ms"] = 0.02; row.userID = 1
    return row
}

func writer(_ arguments: [String]) async throws {
    guard arguments.count >= 2, let total = Int(arguments[1]) else { fail("usage: writer DATABASE ROWS [SUBMITTERS] [ROWS_PER_SUBMISSION]") }
    let submitters = arguments.count > 2 ? Int(arguments[2]) ?? 64 : 64
    let perSubmission = arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100
    let backend: StoreBackend
    if arguments[0].hasPrefix("sqlite://") {
        backend = .embedded(path: String(arguments[0].dropFirst("sqlite://".count)))
    } else {
        backend = .mariadb(try MariaDBConfiguration(url: arguments[0]))
    }
    let store = try await Store.open(backend, connections: 1)
    let writer = ResultWriter(store: store)
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let chunks: [[ResultRow]] = stride(from: 0, to: total, by: perSubmission).map { start in
        (start..<min(start + perSubmission, total)).map { row($0, now: now) }
    }
    let next = Counter()
    let clock = ContinuousClock()
    let started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<submitters {
            group.addTask {
                while let index = next.take(below: chunks.count) { try await writer.write(chunks[index]) }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = started.duration(to: clock.now)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let stats = writer.statistics
    await writer.drain()
    store.close()
    print("{\"mode\":\"writer\",\"rows\":\(total),\"seconds\":\(String(format: "%.3f", seconds)),\"rows_per_second\":\(Int(Double(total) / seconds)),"
          + "\"batches\":\(stats.committedBatches),\"retries\":\(stats.retries),\"submitters\":\(submitters),\"rows_per_submission\":\(perSubmission)}")
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

func hello(_ arguments: [String]) async throws {
    guard let port = arguments.first.flatMap(Int.init) else { fail("usage: hello PORT") }
    let router = Router()
    router.get("/hello") { _, _ in "{\"hello\":\"world\"}" }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    try await app.runService()
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "writer": try await writer(Array(arguments.dropFirst()))
case "hello": try await hello(Array(arguments.dropFirst()))
case "stream": try await stream(Array(arguments.dropFirst()))
default: fail("usage: waddleperf-bench writer|hello|stream ...")
}
