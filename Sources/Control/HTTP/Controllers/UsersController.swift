import Foundation
import Hummingbird

/// Users and their API keys. OU admins manage users inside their subtree; nobody grants a role
/// above their own or places a user outside their scope.
struct UsersController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services

        /// The target user, if the caller's scope reaches them (else 404, so ids outside scope
        /// reveal nothing).
        @Sendable func reachable(_ id: Int64, by principal: Principal) async throws -> User {
            guard let target = try await services.store.user(id: id) else { throw APIError.notFound("user \(id)") }
            if target.id == principal.user?.id { return target }
            let scope = principal.scope
            guard scope.contains(target.ouID) else { throw APIError.notFound("user \(id)") }
            return target
        }

        /// May `principal` change `target` (and give them `role` in `ouID`)? Taking over a user
        /// (their password, MFA, keys, role, OU, email) needs a role strictly above theirs;
        /// containing one (revoking their credentials, deactivating) a role at least theirs, so
        /// peers (two global admins) can stop each other but not become each other.
        @Sendable func mayManage(_ target: User?, role: Role, ouID: Int64?, principal: Principal, reach: ManagementReach = .takeover) async throws {
            guard let actor = principal.user else { throw APIError.forbidden() }
            if role > actor.role { throw APIError.forbidden("cannot grant \(role.rawValue), which is above your role") }
            if let target, target.id != actor.id {
                switch reach {
                case .takeover where target.role >= actor.role:
                    throw APIError.forbidden("managing a \(target.role.rawValue) needs a role above it (peers may only revoke credentials or deactivate)")
                case .containment where target.role > actor.role:
                    throw APIError.forbidden("cannot manage a user whose role is above yours")
                default: break
                }
            }
            let scope = principal.scope
            if scope != .everything {
                guard scope.contains(ouID) else { throw APIError.forbidden("the organisation unit is outside your scope") }
                if role.isGlobal { throw APIError.forbidden("OU administrators cannot grant global roles") }
            }
            if role.isGlobal == false && role != .user && ouID == nil {
                throw APIError.invalid("ou_id", "is required for \(role.rawValue)")
            }
            if let ouID, try await services.store.ou(ouID) == nil { throw APIError.conflict("ou_id", "organisation unit \(ouID) does not exist") }
        }

        routes.on("listUsers") { request, context, _ in
            let principal = try context.caller()
            var query = UserQuery()
            query.limit = try request.queryInt("limit", default: 50, range: 1...1000)
            query.offset = try request.queryInt("offset", default: 0, range: 0...Int(Int32.max))
            query.search = try request.queryString("search", maxLength: 64)
            if let role = try request.queryString("role") {
                guard let parsed = Role(rawValue: role) else { throw APIError.invalid("role", "unknown role") }
                query.role = parsed
            }
            let scope = principal.scope
            query.ouIDs = scope.ouIDs.map { Array($0) }
            let (users, total) = try await services.store.listUsers(query)
            return JSONResponse.encode(UserList(users: users.map { UserBody($0) }, total: total, limit: query.limit, offset: query.offset))
        }

        routes.on("createUser") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let body = try await request.decode(CreateUserRequest.self, operation)
            let role = body.role ?? .user
            let ouID = body.ouID ?? (principal.user?.role.isGlobal == true ? nil : principal.user?.ouID)
            try await mayManage(nil, role: role, ouID: ouID, principal: principal)
            let username = body.username, password = body.password
            if let problem = PasswordPolicy.problem(with: password, username: username) { throw APIError.invalid("password", problem) }
            let user = try await services.store.createUser(NewUser(username: username, email: body.email,
                                                                   passwordHash: try await services.hasher.hash(password),
                                                                   role: role, ouID: ouID, active: body.active ?? true))
            await services.audit(principal, "user.create", subject: "user:\(user.username)", source: context.remoteAddress, detail: "role \(role.rawValue)")
            return JSONResponse.encode(UserBody(user), status: .created)
        }

        routes.on("getUser") { _, context, _ in
            JSONResponse.encode(UserBody(try await reachable(try context.pathID(), by: try context.caller())))
        }

        routes.on("updateUser") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let target = try await reachable(try context.pathID(), by: principal)
            let body = try await request.decode(UpdateUserRequest.self, operation)
            var changes = UserChanges()
            changes.email = body.email.change
            changes.role = body.role
            changes.ouID = body.ouID.change
            changes.active = body.active
            if target.id == principal.user?.id, changes.role != nil || changes.active == false || changes.ouID != nil {
                throw APIError.forbidden("you cannot change your own role, OU or active flag")
            }
            // Deactivating alone contains; anything else takes over.
            let containsOnly = body.presentFields == ["active"] && changes.active == false
            try await mayManage(target, role: changes.role ?? target.role, ouID: changes.ouID ?? target.ouID, principal: principal,
                                reach: containsOnly ? .containment : .takeover)
            let user = try await services.store.updateUser(target.id, changes)
            await services.audit(principal, "user.update", subject: "user:\(user.username)", source: context.remoteAddress,
                                 detail: body.presentFields.joined(separator: ","))
            return JSONResponse.encode(UserBody(user))
        }

        routes.on("deleteUser") { _, context, _ in
            let principal = try context.caller()
            let target = try await reachable(try context.pathID(), by: principal)
            if target.id == principal.user?.id { throw APIError.forbidden("you cannot delete yourself") }
            try await mayManage(target, role: target.role, ouID: target.ouID, principal: principal)
            try await services.store.deleteUser(target.id)
            await services.audit(principal, "user.delete", subject: "user:\(target.username)", source: context.remoteAddress)
            return JSONResponse.noContent()
        }

        routes.on("setUserPassword") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let target = try await reachable(try context.pathID(), by: principal)
            if target.id == principal.user?.id {
                throw APIError.forbidden("change your own password at /api/v1/auth/password, with the current one")
            }
            try await mayManage(target, role: target.role, ouID: target.ouID, principal: principal)
            let password = try await request.decode(SetPasswordRequest.self, operation).password
            if let problem = PasswordPolicy.problem(with: password, username: target.username) { throw APIError.invalid("password", problem) }
            let revoked = try await services.store.setPassword(target.id, hash: try await services.hasher.hash(password))
            await services.audit(principal, "user.password.set", subject: "user:\(target.username)", source: context.remoteAddress,
                                 detail: "revoked \(revoked.summary)")
            return JSONResponse.encode(RevocationResponse("password set", revoked))
        }

        routes.on("revokeUserTokens") { _, context, _ in
            let principal = try context.caller()
            let target = try await reachable(try context.pathID(), by: principal)
            try await mayManage(target, role: target.role, ouID: target.ouID, principal: principal, reach: .containment)
            let revoked = try await services.store.revokeTokens(userID: target.id)
            await services.audit(principal, "user.tokens.revoke", subject: "user:\(target.username)", source: context.remoteAddress,
                                 detail: "revoked \(revoked.summary)")
            return JSONResponse.encode(RevocationResponse("\(target.username)'s credentials were revoked", revoked))
        }

        routes.on("resetUserMFA") { _, context, _ in
            let principal = try context.caller()
            let target = try await reachable(try context.pathID(), by: principal)
            if target.id == principal.user?.id {
                throw APIError.forbidden("turn off your own MFA at /api/v1/auth/mfa/disable, with your password and a code")
            }
            try await mayManage(target, role: target.role, ouID: target.ouID, principal: principal)
            guard target.mfaEnabled || target.mfaPendingSecret != nil else { throw APIError.conflict("\(target.username) has no MFA") }
            try await services.store.disableMFA(target.id)
            await services.audit(principal, "user.mfa.reset", subject: "user:\(target.username)", source: context.remoteAddress)
            return JSONResponse.noContent()
        }

        /// API keys: your own, or those of a user you administer (listing and revoking contain;
        /// minting one for someone else takes over).
        @Sendable func keyOwner(_ context: ControlContext, reach: ManagementReach) async throws -> (Principal, User) {
            let principal = try context.caller()
            let target = try await reachable(try context.pathID(), by: principal)
            if target.id != principal.user?.id {
                guard principal.permissions.contains(.usersWrite) else { throw APIError.forbidden("only your own API keys") }
                try await mayManage(target, role: target.role, ouID: target.ouID, principal: principal, reach: reach)
            }
            return (principal, target)
        }

        routes.on("listAPIKeys") { _, context, _ in
            let (_, owner) = try await keyOwner(context, reach: .containment)
            return JSONResponse.encode(APIKeyList(try await services.store.apiKeys(userID: owner.id).map { APIKeyBody($0) }))
        }

        routes.on("createAPIKey") { request, context, operation in
            var request = request
            let (principal, owner) = try await keyOwner(context, reach: .takeover)
            let body = try await request.decode(CreateAPIKeyRequest.self, operation)
            // Fresh authentication of the caller: a stolen token must not mint a credential that
            // outlives it.
            guard let caller = principal.user else { throw APIError.forbidden() }
            try await services.login.reauthenticate(caller, password: body.password, mfaCode: body.mfaCode, source: context.remoteAddress,
                                                    action: "api_key.create")
            let name = body.name
            let key = APIKeys.generate()
            let record = try await services.store.createAPIKey(userID: owner.id, name: name, prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key))
            await services.audit(principal, "api_key.create", subject: "user:\(owner.username)", source: context.remoteAddress, detail: "key \(record.id) \(record.prefix)…")
            return JSONResponse.encode(APIKeyBody(record, key: key), status: .created)
        }

        routes.on("revokeAPIKey") { _, context, _ in
            let (principal, owner) = try await keyOwner(context, reach: .containment)
            let keyID = try context.pathID("key_id")
            try await services.store.revokeAPIKey(id: keyID, userID: owner.id)
            await services.audit(principal, "api_key.revoke", subject: "user:\(owner.username)", source: context.remoteAddress, detail: "key \(keyID)")
            return JSONResponse.noContent()
        }
    }
}

/// How far an action over another user reaches (`UsersController.mayManage`).
enum ManagementReach {
    /// Becoming the user or changing who they are: a role strictly above theirs.
    case takeover
    /// Stopping the user (revoking credentials, deactivating): a role at least theirs.
    case containment
}
