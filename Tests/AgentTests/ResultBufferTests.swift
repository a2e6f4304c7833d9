@testable import Agent
import Engine
import Foundation
import ProbeModel
import Testing

/// The agent's on-disk buffer: what goes in comes out once, batches keep their key and bytes
/// until acknowledged (across a reopen), and the bounds drop the oldest results, counted.
@Suite("Result buffer")
struct ResultBufferTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "wp-buffer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func documents(_ n: Int, from start: Int = 0, createdAt: Int64? = nil) -> [ResultDocument] {
        (start..<start + n).map { i in
            var d = ResultDocument(testType: "tcp", target: "t\(i)", outcome: "success", success: true)
            d.createdAt = createdAt ?? Int64(Date().timeIntervalSince1970 * 1000)
            d.metrics["latency_ms"] = Double(i)
            return d
        }
    }

    static func targets(_ batch: ResultBuffer.Batch) throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(batch.body)) as? [String: Any]
        return (object?["results"] as? [[String: Any]] ?? []).compactMap { $0["target"] as? String }
    }

    @Test("the fast JSON of a document decodes to the same document as its Codable encoding")
    func fastJSON() throws {
        var d = ResultDocument(testType: "http", target: "https://example.org/a\"b", outcome: "success", success: true)
        d.createdAt = 1_796_000_000_123
        d.sent = 3
        d.received = 2
        d.resolvedAddress = "192.0.2.1:443"
        d.protocolDetail = "h2"
        d.metrics = ["latency_ms": 1.25, "loss_percent": 33.333333333333336, "ttfb_ms": 0.000123, "connect_ms": 12_345.678]
        d.details = ["status": .number(200), "tls_version": .text("TLSv1.3"), "check": .text("web \u{1F427}"), "cached": .flag(true)]
        let fast = try JSONDecoder().decode(ResultDocument.self, from: Data(try d.jsonBytes()))
        let codable = try JSONDecoder().decode(ResultDocument.self, from: JSONEncoder().encode(d))
        #expect(fast == codable && fast == d)
        let bare = ResultDocument(testType: "icmp", target: "192.0.2.1", outcome: "timeout", success: false)
        #expect(try JSONDecoder().decode(ResultDocument.self, from: Data(try bare.jsonBytes())) == bare)
    }

    @Test("a batch is the oldest results; unacknowledged it is offered again, same key and bytes, after a reopen too")
    func batchesSurviveReopen() async throws {
        let dir = try Self.directory()
        var buffer = try await ResultBuffer(directory: dir)
        try await buffer.append(Self.documents(25), checkIDs: Array(repeating: "c", count: 25))
        let first = try #require(try await buffer.nextBatch(maxResults: 10))
        let firstTargets = try Self.targets(first)
        #expect(first.count == 10 && firstTargets == (0..<10).map { "t\($0)" })
        // More results arrive meanwhile: the pending batch does not change.
        try await buffer.append(Self.documents(5, from: 25), checkIDs: Array(repeating: "c", count: 5))
        #expect(try await buffer.nextBatch(maxResults: 10) == first)
        buffer.close()
        buffer = try await ResultBuffer(directory: dir)
        #expect(try await buffer.nextBatch(maxResults: 10) == first, "the same batch after a restart")
        try await buffer.acknowledge(first)
        let second = try #require(try await buffer.nextBatch(maxResults: 100))
        let secondTargets = try Self.targets(second)
        #expect(second.key != first.key && secondTargets == (10..<30).map { "t\($0)" })
        try await buffer.acknowledge(second)
        #expect(try await buffer.nextBatch() == nil)
        let s = try await buffer.statistics()
        #expect(s.results == 0 && s.bytes == 0 && s.appended == 30 && s.uploaded == 30 && s.dropped == 0 && s.lastUploadAt != nil)
        buffer.close()
    }

    @Test("beyond its bytes the buffer drops the oldest results, spares the pending batch, and counts them")
    func byteBound() async throws {
        var limits = ResultBuffer.Limits()
        limits.maxBytes = 20_000
        let buffer = try await ResultBuffer(directory: try Self.directory(), limits: limits)
        try await buffer.append(Self.documents(10), checkIDs: Array(repeating: "c", count: 10))
        let pending = try #require(try await buffer.nextBatch(maxResults: 5))
        for round in 0..<20 {
            try await buffer.append(Self.documents(20, from: 10 + round * 20), checkIDs: Array(repeating: "c", count: 20))
        }
        let s = try await buffer.statistics()
        #expect(s.bytes <= 20_000 && s.dropped > 0 && s.results + s.dropped == 410, "\(s)")
        // The pending batch is intact; after it come the newest results, oldest first.
        #expect(try await buffer.nextBatch(maxResults: 5) == pending)
        try await buffer.acknowledge(pending)
        let rest = try #require(try await buffer.nextBatch(maxResults: 10_000))
        let targets = try Self.targets(rest)
        #expect(targets.last == "t409" && targets.count == Int(s.results) - 5)
        #expect(targets.map { Int($0.dropFirst())! } == targets.map { Int($0.dropFirst())! }.sorted())
        buffer.close()
    }

    @Test("results older than the age bound are dropped and counted")
    func ageBound() async throws {
        var limits = ResultBuffer.Limits()
        limits.maxAgeMilliseconds = 60_000
        let buffer = try await ResultBuffer(directory: try Self.directory(), limits: limits)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await buffer.append(Self.documents(3, createdAt: now - 120_000) + Self.documents(2, from: 3, createdAt: now),
                                checkIDs: Array(repeating: "c", count: 5))
        let s = try await buffer.statistics()
        #expect(s.results == 2 && s.dropped == 3)
        buffer.close()
    }

    @Test("a batch the server refuses for good is discarded and counted as dropped")
    func discard() async throws {
        let buffer = try await ResultBuffer(directory: try Self.directory())
        try await buffer.append(Self.documents(4), checkIDs: Array(repeating: "c", count: 4))
        try await buffer.discard(try #require(try await buffer.nextBatch(maxResults: 3)))
        let s = try await buffer.statistics()
        #expect(s.results == 1 && s.dropped == 3)
        buffer.close()
    }
}
