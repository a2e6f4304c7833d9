import Foundation
import Hummingbird

/// Health, readiness, the OpenAPI document, the audit log and server keys.
struct SystemController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services
        let document = OpenAPIDocument.data()

        routes.on("health") { _, _, _ in JSONResponse.encode(HealthResponse(status: "ok")) }

        routes.on("ready") { _, _, _ in
            guard await services.store.ping() else {
                throw APIError(.serviceUnavailable, "unavailable", "database unreachable", retryAfterSeconds: 5)
            }
            return JSONResponse.encode(ReadyResponse(status: "ready", store: services.store.dialect.rawValue))
        }

        routes.on("openapi") { _, _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }

        routes.on("listAudit") { request, _, _ in
            let limit = try request.queryInt("limit", default: 100, range: 1...1000)
            let cursor = try request.queryInt64("cursor")
            let entries = try await services.store.auditEntries(limit: limit, beforeID: cursor)
            let nextCursor = entries.count == limit ? entries.last.map { String($0.id) } : nil
            return JSONResponse.encode(AuditPage(entries: entries.map { AuditEntryBody($0) }, nextCursor: nextCursor))
        }

        routes.on("createServerKey") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let name = try await request.decode(CreateKeyRequest.self, operation).name
            let key = APIKeys.generate()
            let record = try await services.store.createServerKey(name: name, prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key))
            await services.audit(principal, "server_key.create", subject: "server-key:\(record.id)", source: context.remoteAddress, detail: name)
            return JSONResponse.encode(ServerKeyBody(id: record.id, name: name, prefix: record.prefix, key: key), status: .created)
        }
    }
}
