import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket

/// Tests run by the server on request (`TestRunner`): start, read, list, cancel, and watch live
/// over a WebSocket.
struct TestsController {
    let services: ControlServices
    let runner: TestRunner
    /// Events a slow viewer may have waiting before newer ones are dropped (and counted).
    static let viewerBuffer = 1024

    func register(_ routes: inout Routes) {
        let runner = self.runner, services = self.services

        @Sendable func visibleTest(_ context: ControlContext) throws -> ServerTest {
            let principal = try context.caller()
            let id = try context.testID()
            guard let test = runner.test(id), test.isVisible(to: principal) else { throw APIError.notFound("test \(id)") }
            return test
        }

        routes.on("createTest") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let spec = try await request.decode(ProbeSpec.self, operation, semantic: true)
            let test = try await runner.start(spec, for: principal)
            services.logger.info("test \(test.id) started by \(principal.displayName): \(spec.kind) \(spec.target) x\(spec.count)")
            return JSONResponse.encode(TestBody(test), status: .accepted, headers: [.location: "/api/v1/tests/\(test.id)"])
        }

        routes.on("listTests") { request, context, _ in
            let principal = try context.caller()
            let limit = try request.queryInt("limit", default: 100, range: 1...1000)
            let status = try request.queryString("status").map { text in
                guard let s = ServerTest.Status(rawValue: text) else { throw APIError.invalid("status", "must be running, completed, cancelled or failed") }
                return s
            }
            return JSONResponse.encode(TestList(tests: runner.tests(visibleTo: principal, status: status, limit: limit).map(TestBody.init)))
        }

        routes.on("getTest") { _, context, _ in
            JSONResponse.encode(TestBody(try visibleTest(context)))
        }

        routes.on("cancelTest") { _, context, _ in
            let principal = try context.caller()
            let test = try visibleTest(context)
            guard test.isCancellable(by: principal) else { throw APIError.forbidden("only its owner or an administrator over its unit cancels a test") }
            if test.cancel(by: principal.displayName) {
                await services.audit(principal, "test.cancel", subject: "test:\(test.id)", source: context.remoteAddress, detail: test.owner)
            }
            // A cancelled run ends within a ring turn; its document is then stored. The answer is
            // the test as it ended, and the test is forgotten: what it measured stays in
            // /api/v1/results.
            var ended = test.status != .running
            for _ in 0..<1000 where !ended {
                try await Task.sleep(for: .milliseconds(10))
                ended = test.status != .running
            }
            if ended { runner.forget(test.id) }
            return JSONResponse.encode(TestBody(test))
        }

        routes.webSocket("streamTest", check: { request, context in
            // A browser's cookie session rides along on any cross-site WebSocket: its Origin must be ours.
            // (A plain GET carries nothing to forge: it is only told to upgrade.)
            if request.headers[.upgrade] != nil, case .session = try context.caller().credential, !Self.sameOrigin(request) {
                throw APIError.forbidden("a cookie-session stream must come from this server's origin")
            }
            _ = try visibleTest(context)
        }, onUpgrade: { inbound, outbound, context in
            guard let test = try? visibleTest(context.requestContext) else { return }
            // Reading what the viewer sends (nothing but pongs and a close) is what answers the
            // server's pings; without it the stream would close on a ping timeout.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for try await _ in inbound {} }
                try await Self.stream(test, to: outbound)
                group.cancelAll()
            }
        })
    }

    /// Sends each probe's result as it completes, a summary every second, then the final test,
    /// and closes. A viewer that reads slowly loses the events its buffer cannot hold; each
    /// summary and the final frame say how many.
    static func stream(_ test: ServerTest, to outbound: WebSocketOutboundWriter) async throws {
        guard let (events, viewer) = test.subscribe(buffer: viewerBuffer) else {
            // Already over: only the result.
            try await outbound.write(.text(StreamFrame.result(test, dropped: 0)))
            try await outbound.close(.normalClosure, reason: "test finished")
            return
        }
        try await outbound.write(.text(StreamFrame.summary(test, dropped: 0)))
        // The ticker shares the viewer's buffer, so one loop writes every frame.
        let ticker = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                viewer.continuation.yield(.tick)
            }
        }
        defer { ticker.cancel() }
        for await item in events {
            switch item {
            case .event(let e): try await outbound.write(.text(StreamFrame.probe(e)))
            case .replayed(let e): try await outbound.write(.text(StreamFrame.probe(e, replayed: true)))
            case .tick: try await outbound.write(.text(StreamFrame.summary(test, dropped: viewer.dropped.load(ordering: .relaxed))))
            }
        }
        try await outbound.write(.text(StreamFrame.result(test, dropped: viewer.dropped.load(ordering: .relaxed))))
        try await outbound.close(.normalClosure, reason: "test finished")
    }

    /// The request's Origin names the host it was sent to (scheme aside).
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin], let host = request.head.authority else { return false }
        guard let url = URL(string: origin), let originHost = url.host else { return false }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        return originAuthority.lowercased() == host.lowercased()
    }
}

extension ControlContext {
    /// The `{test_id}` of the path: 16 hex digits, else no such test.
    func testID() throws -> String {
        guard let text = parameters.get("test_id"), text.utf8.count == 16, text.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw APIError.notFound("test")
        }
        return text
    }
}
