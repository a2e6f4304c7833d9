import Engine
import Foundation

// Bodies of the test server's routes: a test's state, and the live stream's frames.

/// `Schemas.test`: a test run by the server, its progress and, once finished, its result.
struct TestBody: APIBody {
    static var schema: ObjectSchema { Schemas.test }

    var id: String
    var status: String
    var check: ProbeSpec
    var createdAt: APITimestamp
    @ExplicitNull var finishedAt: APITimestamp?
    @ExplicitNull var userID: Int64?
    @ExplicitNull var ouID: Int64?
    var progress: Progress
    @ExplicitNull var result: ResultDocument?
    var stored: Bool
    @ExplicitNull var error: String?
    @ExplicitNull var cancelledBy: String?
    var stream: String

    struct Progress: Codable, Sendable {
        var sent: UInt64
        var received: UInt64
        var expected: Int
        var elapsedMs: Int64
        var viewers: Int

        enum CodingKeys: String, CodingKey {
            case sent, received, expected, viewers
            case elapsedMs = "elapsed_ms"
        }
    }

    init(_ test: ServerTest) {
        let s = test.snapshot(latency: false)
        id = test.id
        status = s.status.rawValue
        check = test.spec
        createdAt = APITimestamp(millis: test.createdAt)
        finishedAt = APITimestamp(millis: s.finishedAt)
        userID = test.userID
        ouID = test.ouID
        progress = Progress(sent: s.sent, received: s.received, expected: test.expectedProbes, elapsedMs: s.elapsed.milliseconds,
                            viewers: s.viewers)
        result = s.document
        stored = s.stored
        error = s.error
        cancelledBy = s.cancelledBy
        stream = "/api/v1/tests/\(test.id)/stream"
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, status, check, progress, result, stored, error, stream
        case createdAt = "created_at"
        case finishedAt = "finished_at"
        case userID = "user_id"
        case ouID = "ou_id"
        case cancelledBy = "cancelled_by"
    }
}

/// `Schemas.testList`.
struct TestList: APIBody {
    static var schema: ObjectSchema { Schemas.testList }
    var tests: [TestBody]
    enum CodingKeys: String, CodingKey, CaseIterable { case tests }
}

/// The frames of `/api/v1/tests/{id}/stream` (docs/test-server.md), as JSON text messages.
enum StreamFrame {
    /// One probe's result as it completed.
    /// `replayed`: sent to a viewer that joined after the probe completed (its `engine_ns` is
    /// then older than the connection, not a measure of the stream's delay).
    static func probe(_ e: CheckEvent, replayed: Bool = false) -> String {
        var w = JSONBuffer(capacity: 256)
        w.beginObject()
        w.field("type", "probe")
        w.field("check", e.check)
        w.field("seq", Int(e.sequence))
        w.field("outcome", e.outcome)
        w.field("success", e.success)
        w.field("latency_ms", e.latency.map { Double($0) / 1e6 })
        w.key("phases_ms")
        w.beginObject()
        for p in e.phases { w.field(JSONKey(p.name), Double(p.nanoseconds) / 1e6) }
        w.endObject()
        if let status = e.status { w.field("status", status) }
        if let message = e.message { w.field("message", message) }
        if replayed { w.field("replayed", true) }
        w.field("engine_ns", e.completedAt)
        w.endObject()
        return w.text
    }

    /// What the test has measured so far, and how many events this viewer lost.
    static func summary(_ test: ServerTest, dropped: Int) -> String {
        let s = test.snapshot()
        var w = JSONBuffer(capacity: 512)
        w.beginObject()
        w.field("type", "summary")
        w.field("status", s.status.rawValue)
        w.field("elapsed_ms", s.elapsed.milliseconds)
        w.field("sent", s.sent)
        w.field("received", s.received)
        w.field("expected", test.expectedProbes)
        w.field("loss_percent", s.sent == 0 ? 0 : Double(s.sent - min(s.sent, s.received)) * 100 / Double(s.sent))
        if s.latency.count == 0 {
            w.field("latency_ms", nil as Double?)
        } else {
            let ms = { (v: UInt64?) in v.map { Double($0) / 1e6 } }
            w.key("latency_ms")
            w.beginObject()
            w.field("min", ms(s.latency.min))
            w.field("mean", s.latency.mean.map { $0 / 1e6 })
            w.field("p50", ms(s.latency.percentile(50)))
            w.field("p90", ms(s.latency.percentile(90)))
            w.field("p99", ms(s.latency.percentile(99)))
            w.field("max", ms(s.latency.max))
            w.field("jitter", s.latency.jitterMeanAbsoluteDifference.map { $0 / 1e6 })
            w.endObject()
        }
        w.key("outcomes")
        w.beginObject()
        for (name, n) in s.outcomes.sorted(by: { $0.key < $1.key }) { w.field(dynamic: name, UInt64(n)) }
        w.endObject()
        w.field("viewers", s.viewers)
        w.field("dropped", dropped)
        w.endObject()
        return w.text
    }

    /// The last frame: the test as `GET /api/v1/tests/{id}` shows it, result included.
    static func result(_ test: ServerTest, dropped: Int) -> String {
        let body = String(decoding: (try? JSONResponse.encoder.encode(TestBody(test))) ?? Data("{}".utf8), as: UTF8.self)
        return "{\"type\":\"result\",\"dropped\":\(dropped),\"test\":\(body)}"
    }
}
