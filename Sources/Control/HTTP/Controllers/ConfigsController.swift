import Foundation
import Hummingbird

/// Client configurations: one per OU (inherited by its descendants) and a default. OU admins
/// manage their subtree's; only global administrators change the default.
struct ConfigsController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services

        @Sendable func ouInScope(_ context: ControlContext) async throws -> (Principal, Int64) {
            let principal = try context.caller()
            let id = try context.pathID()
            guard principal.scope.contains(id), try await services.store.ou(id) != nil else {
                throw APIError.notFound("organisation unit \(id)")
            }
            return (principal, id)
        }

        @Sendable func put(_ request: Request, _ context: ControlContext, _ operation: APIOperation, ouID: Int64?, principal: Principal) async throws -> Response {
            var request = request
            let body = try await request.decode(PutClientConfigRequest.self, operation, semantic: true)
            try body.config.validateChecks()
            // Stored normalised (sorted keys), so equal configs read back alike.
            let record = try await services.store.putClientConfig(ClientConfigRecord(
                ouID: ouID, name: body.name, configJSON: try body.config.storedJSON(),
                updatedBy: principal.user?.id, updatedAt: WallClock.nowMillis()))
            await services.audit(principal, "config.put", subject: ouID.map { "ou:\($0)" } ?? "default", source: context.remoteAddress, detail: record.name)
            return JSONResponse.encode(ClientConfigBody(record, config: body.config))
        }

        routes.on("listConfigs") { _, context, _ in
            let scope = try context.caller().scope
            let configs = try await services.store.clientConfigs(ouIDs: scope.ouIDs.map(Array.init))
            return JSONResponse.encode(ClientConfigList(try configs.map { try ClientConfigBody($0) }))
        }

        routes.on("getDefaultConfig") { _, _, _ in
            guard let config = try await services.store.clientConfig(ouID: nil) else { throw APIError.notFound("default config") }
            return JSONResponse.encode(try ClientConfigBody(config))
        }

        routes.on("putDefaultConfig") { request, context, operation in
            let principal = try context.caller()
            guard principal.scope == .everything else {
                throw APIError.forbidden("only global administrators change the default config")
            }
            return try await put(request, context, operation, ouID: nil, principal: principal)
        }

        routes.on("getOUConfig") { _, context, _ in
            let (_, id) = try await ouInScope(context)
            guard let config = try await services.store.clientConfig(ouID: id) else { throw APIError.notFound("config of OU \(id)") }
            return JSONResponse.encode(try ClientConfigBody(config))
        }

        routes.on("putOUConfig") { request, context, operation in
            let (principal, id) = try await ouInScope(context)
            return try await put(request, context, operation, ouID: id, principal: principal)
        }

        routes.on("deleteOUConfig") { _, context, _ in
            let (principal, id) = try await ouInScope(context)
            try await services.store.deleteClientConfig(ouID: id)
            await services.audit(principal, "config.delete", subject: "ou:\(id)", source: context.remoteAddress)
            return JSONResponse.noContent()
        }
    }
}
