import Hummingbird
import NIOCore

/// `GET /metrics`: the server's own metrics in Prometheus' text format (`ServerMetrics`).
/// Access as for `/probe` (`probe_access`); a credential needs audit:read (global roles).
struct MetricsController {
    let access: ExporterAccess
    let metrics: ServerMetrics
    let writer: ResultWriter
    let tests: TestRunner
    let resultPages: ResultPageCache

    func register(_ routes: inout Routes) {
        let access = self.access, metrics = self.metrics, writer = self.writer, tests = self.tests, pages = self.resultPages
        routes.on("metrics") { request, context, _ in
            _ = try access.admit(request, context, requiring: .auditRead, exemption: .auditRead)
            let body = metrics.render(writer: writer.statistics, testsRunning: tests.runningCount, resultPages: pages.counts)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
