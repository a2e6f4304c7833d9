import Engine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /probe?module=NAME&target=T`: blackbox_exporter's interface, our engine. One check per
/// scrape, run on a ring thread of its own; nothing is stored (Prometheus keeps the series).
struct ProbeController {
    let modules: [String: ProbeModule]
    let access: ExporterAccess
    let policy: TargetPolicy
    let metrics: ServerMetrics

    static let scrapeTimeoutHeader = HTTPField.Name("X-Prometheus-Scrape-Timeout-Seconds")!
    /// Taken off Prometheus' scrape timeout so the answer arrives within it (blackbox's timeout_offset).
    static let timeoutOffset: Duration = .milliseconds(500)
    /// Without a scrape timeout header and without a module timeout (blackbox's default).
    static let defaultTimeout: Duration = .seconds(120)

    func register(_ routes: inout Routes) {
        let modules = self.modules, access = self.access, policy = self.policy, metrics = self.metrics
        routes.on("probe") { request, context, operation in
            // Who may ask, and which targets they reach: a caller on this host is the operator
            // (protected ranges too); others need a credential and get its policy.
            let exempt = try access.admit(request, context, requiring: .testsRun, exemption: .targetsInternal)
            try QueryParameters.validate(request, against: operation.query)
            metrics.probeScrapes.increment()
            // blackbox's defaults: http_2xx when no module is named.
            let name = try request.queryString("module", maxLength: 128) ?? "http_2xx"
            guard let module = modules[name] else {
                throw APIError.invalid("module", "unknown module '\(name)' (known: \(modules.keys.sorted().joined(separator: ", ")))")
            }
            guard module.prober != .dns else {
                throw APIError(.notImplemented, "not_implemented", "module \(name): the dns prober is not in this engine yet")
            }
            guard let target = try request.queryString("target", maxLength: 1024) else {
                throw APIError.invalid("target", "Target parameter is missing")
            }
            // blackbox's rule: the scrape's timeout (120 s without the header) less the offset; the
            // module's own when it is set and shorter, or when that leaves nothing.
            var scrape = Self.defaultTimeout
            if let header = request.headers[Self.scrapeTimeoutHeader] {
                guard let seconds = Double(header), seconds.isFinite, seconds >= 0 else {
                    throw APIError.invalid("X-Prometheus-Scrape-Timeout-Seconds", "must be a number of seconds")
                }
                if seconds > 0 { scrape = .milliseconds(Int64(min(seconds, 86_400) * 1000)) }
            }
            var timeout = scrape - Self.timeoutOffset
            if module.timeout > .zero && (module.timeout < timeout || timeout <= .zero) { timeout = module.timeout }
            timeout = max(timeout, .milliseconds(1))
            let spec: ProbeSpec
            let run: CheckRun
            do {
                spec = try module.check(target: target, timeout: timeout)
                run = try CheckRun([spec], policy: policy.exempting(exempt))
            } catch let error as ConfigurationError {
                throw APIError.invalid(error.field.hasPrefix("checks[0].") ? "target" : error.field, error.message)
            }
            let clock = ContinuousClock()
            let started = clock.now
            let prepared: CheckRun.Prepared
            do {
                prepared = try await run.prepare(family: module.family)
            } catch let error as ConfigurationError {
                throw APIError.invalid("target", error.message)
            }
            let resolved = clock.now
            let report = try await run.run(prepared)
            let duration = clock.now - started
            guard let document = report.documents.first else { throw APIError(.internalServerError, "internal", "no result") }
            let success = ProbeExposition.success(module: module, document: document)
            let body = ProbeExposition.render(module: module, document: document, success: success, duration: duration,
                                              resolve: resolved - started)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }

}

/// Who may call the exporter routes (`/probe`, `/metrics`), by `probe_access`: `loopback` lets
/// callers on this host in without a credential and asks others for one; `authenticated` always
/// asks; `open` never does.
struct ExporterAccess: Sendable {
    let mode: ControlConfiguration.ProbeAccess

    /// Admits the caller or throws 401/403; returns whether they hold `exemption` (a caller on
    /// this host counts as the operator).
    func admit(_ request: Request, _ context: ControlContext, requiring permission: Permission, exemption: Permission) throws -> Bool {
        // Local: the socket peer is this host and no proxy forwarded the request (a reverse proxy
        // on this host makes every caller look local; a client can write Forwarded itself).
        let forwarded = request.headers[ClientAddress.forwarded] != nil || request.headers[ClientAddress.xForwardedFor] != nil
        let local = !forwarded && Self.isLoopback(context.peerAddress)
        if let principal = context.principal {
            guard principal.permissions.contains(permission) else { throw APIError.forbidden("requires \(permission.rawValue)") }
            return principal.permissions.contains(exemption) || (local && mode != .authenticated)
        }
        guard mode == .open || (mode == .loopback && local) else { throw context.authenticationFailure ?? APIError.unauthorized }
        return local
    }

    /// The policy's own `loopback` rule (127.0.0.0/8, ::1), so both agree on what loopback is.
    private static let loopback = TargetPolicy.defaultProtected(own: []).first { $0.name == "loopback" }!

    static func isLoopback(_ address: String) -> Bool {
        guard let a = IPAddress(address) else { return false }
        return loopback.matches(a, port: 0)
    }
}
