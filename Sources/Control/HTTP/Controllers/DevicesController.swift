import Foundation
import Hummingbird
import ProbeModel

/// Devices, their enrollment, and what an enrolled device asks for (its config, its heartbeat).
/// Enrollment secrets and device tokens are shown once and stored as SHA-256 hashes.
struct DevicesController {
    let services: ControlServices
    /// An agent's heartbeat also sets its gauges in `/metrics`.
    var metrics: ServerMetrics?

    func register(_ routes: inout Routes) {
        let services = self.services, metrics = self.metrics

        /// The device if it is in the caller's scope; 404 otherwise (no existence oracle).
        @Sendable func visibleDevice(_ context: ControlContext) async throws -> (Principal, Device) {
            let principal = try context.caller()
            let id = try context.pathID()
            guard let device = try await services.store.device(id), principal.scope.contains(device.ouID) else {
                throw APIError.notFound("device \(id)")
            }
            return (principal, device)
        }

        routes.on("listDevices") { request, context, _ in
            let scope = try context.caller().scope
            var query = DeviceQuery()
            query.limit = try request.queryInt("limit", default: 50, range: 1...1000)
            query.offset = try request.queryInt("offset", default: 0, range: 0...Int(Int32.max))
            if let status = try request.queryString("status", maxLength: 16) {
                guard let parsed = DeviceStatus(rawValue: status) else {
                    throw APIError.invalid("status", "must be one of \(DeviceStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                query.status = parsed
            }
            if let active = try request.queryString("active", maxLength: 5) {
                guard active == "true" || active == "false" else { throw APIError.invalid("active", "must be true or false") }
                query.active = active == "true"
            }
            query.search = try request.queryString("search", maxLength: 128)
            query.ouIDs = scope.ouIDs.map(Array.init)
            if let ou = try request.queryInt64("ou_id") {
                // A unit outside the scope simply matches nothing.
                query.ouIDs = scope.contains(ou) ? [ou] : []
            }
            let now = WallClock.nowMillis()
            let (devices, total) = try await services.store.listDevices(query, now: now)
            return JSONResponse.encode(DeviceList(devices: devices.map { DeviceBody($0, now: now) }, total: total, limit: query.limit, offset: query.offset))
        }

        routes.on("deviceSummary") { _, context, _ in
            let scope = try context.caller().scope
            let summary = try await services.store.deviceSummary(ouIDs: scope.ouIDs.map(Array.init))
            return JSONResponse.encode(DeviceSummaryBody(summary))
        }

        routes.on("getDevice") { _, context, _ in
            JSONResponse.encode(DeviceBody(try await visibleDevice(context).1))
        }

        for (id, active) in [("deactivateDevice", false), ("reactivateDevice", true)] {
            routes.on(id) { _, context, _ in
                let (principal, device) = try await visibleDevice(context)
                let updated = try await services.store.setDeviceActive(device.id, active)
                await services.audit(principal, active ? "device.reactivate" : "device.deactivate", subject: "device:\(device.id)",
                                     source: context.remoteAddress, detail: device.serial)
                return JSONResponse.encode(DeviceBody(updated))
            }
        }

        routes.on("resetDeviceEnrollment") { _, context, _ in
            let (principal, device) = try await visibleDevice(context)
            let updated = try await services.store.resetEnrollment(device.id)
            await services.audit(principal, "device.enrollment.reset", subject: "device:\(device.id)", source: context.remoteAddress, detail: device.serial)
            return JSONResponse.encode(DeviceBody(updated))
        }

        routes.on("listEnrollmentSecrets") { _, context, _ in
            let scope = try context.caller().scope
            let secrets = try await services.store.enrollmentSecrets(ouIDs: scope.ouIDs.map(Array.init))
            return JSONResponse.encode(EnrollmentSecretList(secrets.map { EnrollmentSecretBody($0) }))
        }

        routes.on("createEnrollmentSecret") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let body = try await request.decode(CreateEnrollmentSecretRequest.self, operation)
            let ouID = body.ouID
            guard principal.scope.contains(ouID) else { throw APIError.forbidden("OU \(ouID) is outside your scope") }
            guard try await services.store.ou(ouID) != nil else { throw APIError.conflict("ou_id", "no such organisation unit") }
            let secret = Secrets.randomHex(bytes: 32)
            let record = try await services.store.createEnrollmentSecret(
                ouID: ouID, name: body.name, prefix: String(secret.prefix(8)), hash: Secrets.sha256Hex(secret),
                createdBy: principal.user?.id, expiresAt: body.expiresInSeconds.map { WallClock.nowMillis() + $0 * 1000 },
                maxUses: body.maxUses)
            await services.audit(principal, "enrollment_secret.create", subject: "enrollment_secret:\(record.id)", source: context.remoteAddress,
                                 detail: "ou \(ouID), prefix \(record.prefix)")
            return JSONResponse.encode(EnrollmentSecretBody(record, secret: secret), status: .created)
        }

        routes.on("revokeEnrollmentSecret") { _, context, _ in
            let principal = try context.caller()
            let id = try context.pathID()
            guard let secret = try await services.store.enrollmentSecret(id), principal.scope.contains(secret.ouID) else {
                throw APIError.notFound("enrollment secret \(id)")
            }
            try await services.store.revokeEnrollmentSecret(id)
            await services.audit(principal, "enrollment_secret.revoke", subject: "enrollment_secret:\(id)", source: context.remoteAddress)
            return JSONResponse.noContent()
        }

        routes.on("enroll") { request, context, operation in
            var request = request
            let source = context.remoteAddress
            if let refusal = services.login.throttled(source) { throw refusal }
            let body = try await request.decode(EnrollRequest.self, operation)
            let info = body.info
            let token = DeviceTokens.generate()
            let outcome: (device: Device, created: Bool)
            do {
                outcome = try await services.store.enroll(secretHash: Secrets.sha256Hex(body.secret), info: info,
                                                          tokenHash: Secrets.sha256Hex(token),
                                                          currentTokenHash: body.currentToken.map(Secrets.sha256Hex), address: source)
            } catch let error as Store.EnrollmentError {
                let (status, code, message): (HTTPResponse.Status, String, String) = switch error {
                case .badSecret: (.unauthorized, "invalid_secret", "unknown, revoked, expired or used-up enrollment secret")
                case .serialTaken: (.conflict, "serial_taken",
                                    "serial \(info.serial) is already enrolled: re-enrolling needs the device's current_token, or an administrator's reset")
                case .deactivated: (.forbidden, "deactivated", "device \(info.serial) is deactivated; an administrator must reactivate it")
                }
                // A wrong secret or a wrong current token is a guess.
                if error == .badSecret || error == .serialTaken { services.login.throttle.recordFailure(source) }
                await services.audit(actor: "device:\(info.serial)", userID: nil, action: "device.enroll", subject: "serial:\(info.serial)",
                                     source: source, outcome: "failure", detail: code)
                throw APIError(status, code, message)
            }
            await services.audit(actor: "device:\(info.serial)", userID: nil, action: outcome.created ? "device.enroll" : "device.reenroll",
                                 subject: "device:\(outcome.device.id)", source: source, detail: "ou \(outcome.device.ouID)")
            return JSONResponse.encode(EnrollmentResponse(device: DeviceBody(outcome.device), token: token), status: outcome.created ? .created : .ok)
        }

        routes.on("deviceConfig") { request, context, _ in
            guard let device = try context.caller().device else { throw APIError.unauthorized }
            let config = try await services.store.effectiveClientConfig(ouID: device.ouID)
            // The config's identity: which one applies and what it says (not the jittered
            // check-in, which differs on every call).
            let etag = "\"" + String(Secrets.sha256Hex("\(config?.ouID.map(String.init) ?? "default") \(config?.name ?? "") \(config?.configJSON ?? "null")").prefix(32)) + "\""
            if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            // A stored document that does not decode is sent as null, with the defaults below.
            let document = config.flatMap { try? ClientConfigDocument(storedJSON: $0.configJSON) }
            let checkin = Double(document?.checkinSeconds ?? 900)
            let jitter = Double(document?.jitterPercent ?? 0)
            let next = Int((checkin * (1 + Double.random(in: -jitter...jitter) / 100)).rounded())
            return JSONResponse.encode(DeviceConfigResponse(config: document, name: config?.name, sourceOUID: config?.ouID,
                                                            nextCheckinSeconds: max(next, 1)), headers: [.eTag: etag])
        }

        routes.on("deviceHeartbeat") { request, context, operation in
            var request = request
            guard let device = try context.caller().device else { throw APIError.unauthorized }
            // The original clients send no body; an agent sends its state.
            var status: String?
            if request.headers[.contentLength].map({ $0 != "0" }) ?? (request.headers[.transferEncoding] != nil) {
                let body = try await request.decode(AgentStatus.self, operation)
                status = String(decoding: try JSONResponse.encoder.encode(body), as: UTF8.self)
                metrics?.record(agent: body, device: device.id)
            }
            let seen = try await services.store.markDeviceSeen(device.id, agentStatus: status)
            return JSONResponse.encode(HeartbeatResponse(deviceID: device.id, lastSeenAt: APITimestamp(millis: seen)))
        }
    }
}
