@testable import Control
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The browser speed test's routes: exactly the bytes asked for, and random ones; an upload
/// counted to the byte; the bounds (bytes per transfer, transfers in flight) refused with the
/// setting's name.
@Suite("Speed test")
struct SpeedTestTests {
    @Test("a download is the bytes asked for, incompressible; an upload is counted; the bounds are refused by name")
    func transfers() async throws {
        try await APIHarness.run(configure: { $0.speedTest.maxBytes = 1 << 20 }) { c in
            let admin = try await c.adminToken()
            let auth: HTTPFields = [.authorization: "Bearer \(admin)"]
            let (status, body, cache) = try await c.client.execute(uri: "/api/v1/speedtest/download?bytes=300001", method: .get, headers: auth) {
                (Int($0.status.code), Array($0.body.readableBytesView), $0.headers[.cacheControl])
            }
            #expect(status == 200 && body.count == 300_001 && cache == "no-store")
            // Random bytes: every value occurs, and no 4 KiB block repeats the first.
            #expect(Set(body).count == 256)
            #expect(Array(body[4096..<8192]) != Array(body[0..<4096]))
            let tooMany = try await c.call(.get, "/api/v1/speedtest/download?bytes=2000000", token: admin)
            #expect(tooMany.status == 422 && tooMany.text.contains("speedtest_max_bytes"), "\(tooMany.text)")
            #expect(try await c.call(.get, "/api/v1/speedtest/download?bytes=0", token: admin).status == 400)

            let upload = try await c.client.execute(uri: "/api/v1/speedtest/upload", method: .post, headers: auth,
                                                    body: ByteBuffer(repeating: 7, count: 500_000)) { response in
                (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:])
            }
            #expect(upload.0 == 200 && (upload.1["bytes"] as? NSNumber)?.intValue == 500_000, "\(upload.1)")
            let over = try await c.client.execute(uri: "/api/v1/speedtest/upload", method: .post, headers: auth,
                                                  body: ByteBuffer(repeating: 7, count: (1 << 20) + 1)) { Int($0.status.code) }
            #expect(over == 413)
            #expect(try await c.call(.get, "/api/v1/speedtest/ping", token: admin).status == 204)
            #expect(try await c.call(.get, "/api/v1/speedtest/ping").status == 401)
        }
    }

    @Test("transfers in flight are bounded per caller and in all, and a release frees the slot once")
    func slots() throws {
        let slots = TransferSlots(global: 2, perCaller: 1)
        let a = try slots.acquire("a")
        #expect(throws: APIError.self) { try slots.acquire("a") }
        let b = try slots.acquire("b")
        do {
            _ = try slots.acquire("c")
            Issue.record("a third transfer passed a global bound of 2")
        } catch let error as APIError {
            #expect(error.status == .tooManyRequests && error.message.contains("speedtest_streams") && error.retryAfterSeconds == 1)
        }
        a()
        a()  // twice: still one slot
        let c = try slots.acquire("c")
        #expect(throws: APIError.self) { try slots.acquire("d") }
        b()
        c()
        _ = try slots.acquire("a")
        // A slot dropped without its release (a response body that never ran) frees its place:
        // with one held, a second taken and dropped, a third still fits the global bound of 2.
        let held = try slots.acquire("x")
        do { _ = try slots.acquire("e") }
        let third = try slots.acquire("f")
        #expect(throws: APIError.self) { try slots.acquire("g") }
        held()
        third()
    }
}
