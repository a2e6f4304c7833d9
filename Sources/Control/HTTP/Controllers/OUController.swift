import Foundation
import Hummingbird

/// Organisation units: a hierarchy. OU admins work inside their subtree and cannot create
/// top-level units, move units out of their subtree, or delete their own root.
struct OUController {
    let services: ControlServices

    static func json(_ unit: OrganizationUnit) -> [String: Any] {
        ["id": unit.id, "parent_id": JSONResponse.optional(unit.parentID), "name": unit.name, "description": unit.description,
         "created_at": JSONResponse.timestamp(unit.createdAt)]
    }

    func register(_ routes: inout Routes) {
        let services = self.services

        @Sendable func visible(_ principal: Principal) async throws -> (Scope, [OrganizationUnit]) {
            let units = try await services.store.listOUs()
            let scope = try await Scope.of(principal, units: units)
            return (scope, units.filter { scope.contains($0.id) })
        }

        @Sendable func inScope(_ id: Int64, _ principal: Principal) async throws -> (Scope, OrganizationUnit) {
            let (scope, units) = try await visible(principal)
            guard let unit = units.first(where: { $0.id == id }) else { throw APIError.notFound("organisation unit \(id)") }
            return (scope, unit)
        }

        routes.on("listOUs") { _, context, _ in
            JSONResponse.make(["organization_units": try await visible(try context.caller).1.map(Self.json)])
        }

        routes.on("ouTree") { _, context, _ in
            let units = try await visible(try context.caller).1
            let ids = Set(units.map(\.id))
            var children: [Int64: [OrganizationUnit]] = [:]
            for unit in units { if let parent = unit.parentID, ids.contains(parent) { children[parent, default: []].append(unit) } }
            func node(_ unit: OrganizationUnit) -> [String: Any] {
                var json = Self.json(unit)
                json["children"] = (children[unit.id] ?? []).map(node)
                return json
            }
            let roots = units.filter { $0.parentID.map { !ids.contains($0) } ?? true }
            return JSONResponse.make(["roots": roots.map(node)])
        }

        routes.on("createOU") { request, context, operation in
            var request = request
            let principal = try context.caller
            let body = try await request.json(operation)
            let parentID = body.int("parent_id")
            let scope = try await services.scope(of: principal)
            if scope != .everything {
                guard let parentID, scope.contains(parentID) else {
                    throw APIError.forbidden("OU administrators create units under a unit in their scope")
                }
            }
            let unit = try await services.store.createOU(name: body.string("name")!, description: body.string("description") ?? "", parentID: parentID)
            await services.audit(principal, "ou.create", subject: "ou:\(unit.id)", source: context.remoteAddress, detail: unit.name)
            return JSONResponse.make(Self.json(unit), status: .created)
        }

        routes.on("getOU") { _, context, _ in
            JSONResponse.make(Self.json(try await inScope(try context.pathID(), try context.caller).1))
        }

        routes.on("updateOU") { request, context, operation in
            var request = request
            let principal = try context.caller
            let (scope, unit) = try await inScope(try context.pathID(), principal)
            let body = try await request.json(operation)
            var parent: Int64?? = nil
            if body.has("parent_id") {
                let newParent = body.int("parent_id")
                if scope != .everything {
                    if unit.id == principal.user?.ouID { throw APIError.forbidden("you cannot move your own root unit") }
                    guard let newParent, scope.contains(newParent) else { throw APIError.forbidden("the new parent is outside your scope") }
                }
                parent = .some(newParent)
            }
            let updated = try await services.store.updateOU(unit.id, name: body.string("name"), description: body.string("description"), parentID: parent)
            await services.audit(principal, "ou.update", subject: "ou:\(unit.id)", source: context.remoteAddress)
            return JSONResponse.make(Self.json(updated))
        }

        routes.on("deleteOU") { _, context, _ in
            let principal = try context.caller
            let (scope, unit) = try await inScope(try context.pathID(), principal)
            if scope != .everything && unit.id == principal.user?.ouID { throw APIError.forbidden("you cannot delete your own root unit") }
            try await services.store.deleteOU(unit.id)
            await services.audit(principal, "ou.delete", subject: "ou:\(unit.id)", source: context.remoteAddress, detail: unit.name)
            return JSONResponse.noContent()
        }
    }
}
