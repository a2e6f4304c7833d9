import Foundation
import Hummingbird

/// Health, readiness, the OpenAPI document, the audit log and server keys.
struct SystemController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services
        let document = OpenAPIDocument.data()

        routes.on("health") { _, _, _ in JSONResponse.make(["status": "ok"]) }

        routes.on("ready") { _, _, _ in
            guard await services.store.ping() else {
                throw APIError(.serviceUnavailable, "unavailable", "database unreachable", retryAfterSeconds: 5)
            }
            return JSONResponse.make(["status": "ready", "store": services.store.dialect.rawValue])
        }

        routes.on("openapi") { _, _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }

        routes.on("listAudit") { request, _, _ in
            let limit = try request.queryInt("limit", default: 100, range: 1...1000)
            let cursor = try request.queryInt64("cursor")
            let entries = try await services.store.auditEntries(limit: limit, beforeID: cursor)
            let json: [[String: Any]] = entries.map {
                ["id": $0.id, "at": JSONResponse.timestamp($0.at), "actor": $0.actor, "actor_user_id": JSONResponse.optional($0.actorUserID),
                 "action": $0.action, "subject": $0.subject, "source_address": $0.sourceAddress, "outcome": $0.outcome, "detail": $0.detail]
            }
            return JSONResponse.make(["entries": json, "next_cursor": entries.count == limit ? String(entries.last!.id) : NSNull()])
        }

        routes.on("createServerKey") { request, context, operation in
            var request = request
            let principal = try context.caller
            let name = try await request.json(operation).string("name")!
            let key = APIKeys.generate()
            let record = try await services.store.createServerKey(name: name, prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key))
            await services.audit(principal, "server_key.create", subject: "server-key:\(record.id)", source: context.remoteAddress, detail: name)
            return JSONResponse.make(["id": record.id, "name": name, "prefix": record.prefix, "key": key], status: .created)
        }
    }
}
