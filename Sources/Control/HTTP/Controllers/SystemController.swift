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
            let body = try await request.decode(CreateServerKeyRequest.self, operation)
            let key = APIKeys.generate()
            let record = try await services.store.createServerKey(name: body.name, prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key),
                                                                  ouID: body.ouID)
            await services.audit(principal, "server_key.create", subject: "server-key:\(record.id)", source: context.remoteAddress,
                                 detail: body.name + (body.ouID.map { " ou \($0)" } ?? ""))
            return JSONResponse.encode(ServerKeyBody(record, key: key), status: .created)
        }

        routes.on("listServerKeys") { _, _, _ in
            JSONResponse.encode(ServerKeyList(try await services.store.serverKeys().map { ServerKeyBody($0) }))
        }

        routes.on("revokeServerKey") { _, context, _ in
            let principal = try context.caller()
            let id = try context.pathID()
            try await services.store.revokeServerKey(id: id)
            await services.audit(principal, "server_key.revoke", subject: "server-key:\(id)", source: context.remoteAddress)
            return JSONResponse.noContent()
        }
    }
}
