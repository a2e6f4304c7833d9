import Engine
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The browser speed test's three routes: bytes to download, a sink to upload into, and a
/// ping. The browser measures; the server only moves bytes (and says how many it read, and in
/// how long, so a client can cross-check). Every call needs a user who may run tests, and the
/// transfers in flight are bounded, globally and per caller (429 beyond).
struct SpeedTestController {
    let services: ControlServices

    /// One MiB of random bytes, written again and again: nothing on the path can compress it.
    static let noise: ByteBuffer = {
        var generator = SystemRandomNumberGenerator()
        var buffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
        for _ in 0..<((1 << 20) / 8) { buffer.writeInteger(generator.next() as UInt64) }
        return buffer
    }()

    func register(_ routes: inout Routes) {
        let limits = services.configuration.speedTest
        let slots = TransferSlots(global: limits.streams, perCaller: limits.streamsPerCaller)
        let bodyTimeout = services.configuration.bodyTimeout

        routes.on("speedDownload") { request, context, _ in
            let principal = try context.caller()
            let bytes = try request.queryInt("bytes", default: min(25 << 20, limits.maxBytes), range: 1...(1 << 28))
            guard bytes <= limits.maxBytes else {
                throw APIError(.unprocessableContent, "too_large", "bytes: at most \(limits.maxBytes) on this server (speedtest_max_bytes)")
            }
            // Released when the body is written, or when an unwritten body is dropped (a client
            // gone before the response started).
            let slot = try slots.acquire(principal.quotaKey)
            let body = ResponseBody(contentLength: bytes) { writer in
                defer { slot.release() }
                var left = bytes
                while left > 0 {
                    let n = min(left, Self.noise.readableBytes)
                    try await writer.write(Self.noise.getSlice(at: Self.noise.readerIndex, length: n)!)
                    left -= n
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .cacheControl: "no-store"], body: body)
        }

        routes.on("speedUpload") { request, context, _ in
            let principal = try context.caller()
            let slot = try slots.acquire(principal.quotaKey)
            defer { slot.release() }
            let started = ContinuousClock.now
            let body = request.body
            let counted: (Int, ContinuousClock.Instant?) = try await withThrowingTaskGroup(of: (Int, ContinuousClock.Instant?)?.self) { group in
                group.addTask {
                    var first: ContinuousClock.Instant?
                    var received = 0
                    for try await chunk in body {
                        if first == nil { first = .now }
                        received += chunk.readableBytes
                        if received > limits.maxBytes {
                            throw APIError(.contentTooLarge, "too_large", "a speed-test upload is at most \(limits.maxBytes) bytes (speedtest_max_bytes)")
                        }
                    }
                    return (received, first)
                }
                group.addTask { try await Task.sleep(for: bodyTimeout); return nil }
                defer { group.cancelAll() }
                guard let done = try await group.next(), let counted = done else {
                    throw APIError(.requestTimeout, "request_timeout", "the upload did not arrive within \(bodyTimeout)")
                }
                return counted
            }
            let ended = ContinuousClock.now
            let reading = counted.1.map { ended - $0 } ?? .zero
            return JSONResponse.encode(SpeedUploadResponse(bytes: counted.0, durationMS: (ended - started).inSeconds * 1000,
                                                           readMS: reading.inSeconds * 1000),
                                       headers: [.cacheControl: "no-store"])
        }

        routes.on("speedPing") { _, context, _ in
            _ = try context.caller()
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }
    }
}

/// Transfers in flight, bounded globally and per caller. `acquire` answers the slot, or throws
/// a 429 with Retry-After.
final class TransferSlots: Sendable {
    private let global: Int, perCaller: Int
    private let state = Mutex<(total: Int, byCaller: [String: Int])>((0, [:]))

    init(global: Int, perCaller: Int) {
        self.global = global
        self.perCaller = perCaller
    }

    func acquire(_ caller: String) throws -> TransferSlot {
        let refusal: String? = state.withLock { s in
            if s.total >= global { return "the server runs \(global) speed-test transfers already (speedtest_streams)" }
            if s.byCaller[caller, default: 0] >= perCaller {
                return "you have \(perCaller) speed-test transfers running already (speedtest_streams_per_user)"
            }
            s.total += 1
            s.byCaller[caller, default: 0] += 1
            return nil
        }
        if let refusal { throw APIError(.tooManyRequests, "too_many_transfers", refusal, retryAfterSeconds: 1) }
        return TransferSlot(slots: self, caller: caller)
    }

    fileprivate func release(_ caller: String) {
        state.withLock { s in
            s.total -= 1
            s.byCaller[caller, default: 1] -= 1
            if s.byCaller[caller] == 0 { s.byCaller[caller] = nil }
        }
    }
}

/// One transfer's place: given back by `release()` (once, however often called) or, failing
/// that, when the last reference goes, so a path that never runs its release cannot leak it.
final class TransferSlot: Sendable {
    private let slots: TransferSlots
    private let caller: String
    private let released = Atomic<Bool>(false)

    fileprivate init(slots: TransferSlots, caller: String) {
        self.slots = slots
        self.caller = caller
    }

    func release() {
        guard !released.exchange(true, ordering: .relaxed) else { return }
        slots.release(caller)
    }

    func callAsFunction() { release() }

    deinit { release() }
}
