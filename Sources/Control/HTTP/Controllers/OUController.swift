import Foundation
import Hummingbird

/// Organisation units: a hierarchy. OU admins work inside their subtree and cannot create
/// top-level units, move units out of their subtree, or delete their own root.
struct OUController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services

        @Sendable func visible(_ principal: Principal) async throws -> (Scope, [OrganizationUnit]) {
            let units = try await services.store.listOUs()
            let scope = principal.scope
            return (scope, units.filter { scope.contains($0.id) })
        }

        @Sendable func inScope(_ id: Int64, _ principal: Principal) async throws -> (Scope, OrganizationUnit) {
            let (scope, units) = try await visible(principal)
            guard let unit = units.first(where: { $0.id == id }) else { throw APIError.notFound("organisation unit \(id)") }
            return (scope, unit)
        }

        routes.on("listOUs") { _, context, _ in
            JSONResponse.encode(OUList(try await visible(try context.caller()).1.map { OUBody($0) }))
        }

        routes.on("ouTree") { _, context, _ in
            let units = try await visible(try context.caller()).1
            return JSONResponse.encode(OUTree(units: units))
        }

        routes.on("createOU") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let body = try await request.decode(CreateOURequest.self, operation)
            let parentID = body.parentID
            let scope = principal.scope
            if scope != .everything {
                guard let parentID, scope.contains(parentID) else {
                    throw APIError.forbidden("OU administrators create units under a unit in their scope")
                }
            }
            let unit = try await services.store.createOU(name: body.name, description: body.description ?? "", parentID: parentID)
            await services.audit(principal, "ou.create", subject: "ou:\(unit.id)", source: context.remoteAddress, detail: unit.name)
            return JSONResponse.encode(OUBody(unit), status: .created)
        }

        routes.on("getOU") { _, context, _ in
            JSONResponse.encode(OUBody(try await inScope(try context.pathID(), try context.caller()).1))
        }

        routes.on("updateOU") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let (scope, unit) = try await inScope(try context.pathID(), principal)
            let body = try await request.decode(UpdateOURequest.self, operation)
            var parent: Int64?? = nil
            if let newParent = body.parentID.change {
                if scope != .everything {
                    if unit.id == principal.user?.ouID { throw APIError.forbidden("you cannot move your own root unit") }
                    guard let newParent, scope.contains(newParent) else { throw APIError.forbidden("the new parent is outside your scope") }
                }
                parent = .some(newParent)
            }
            let updated = try await services.store.updateOU(unit.id, name: body.name, description: body.description, parentID: parent)
            await services.audit(principal, "ou.update", subject: "ou:\(unit.id)", source: context.remoteAddress)
            return JSONResponse.encode(OUBody(updated))
        }

        routes.on("deleteOU") { _, context, _ in
            let principal = try context.caller()
            let (scope, unit) = try await inScope(try context.pathID(), principal)
            if scope != .everything && unit.id == principal.user?.ouID { throw APIError.forbidden("you cannot delete your own root unit") }
            try await services.store.deleteOU(unit.id)
            await services.audit(principal, "ou.delete", subject: "ou:\(unit.id)", source: context.remoteAddress, detail: unit.name)
            return JSONResponse.noContent()
        }
    }
}
