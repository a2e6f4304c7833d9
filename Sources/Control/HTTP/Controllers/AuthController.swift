import Foundation
import Hummingbird
import HTTPTypes

/// Login (with the MFA step), logout, whoami, own password change, TOTP setup/verify/disable.
struct AuthController {
    let services: ControlServices

    func register(_ routes: inout Routes) {
        let services = self.services
        routes.on("login") { request, context, operation in
            var request = request
            let body = try await request.decode(LoginRequest.self, operation)
            let user = try await services.login.checkPassword(username: body.username, password: body.password,
                                                              mfaCode: body.mfaCode, source: context.remoteAddress, allowMFA: true)
            var response: LoginResponse
            var headers: HTTPFields = [:]
            if body.session == true {
                // A cookie session only: no bearer token beside it, which script could read and
                // logging out would not end.
                let sessionID = Secrets.randomHex(bytes: 32), csrf = Secrets.randomHex(bytes: 32)
                let lifetime = services.configuration.sessionLifetime.components.seconds
                try await services.store.createSession(idHash: Secrets.sha256Hex(sessionID), userID: user.id, csrfHash: Secrets.sha256Hex(csrf),
                                                       sourceAddress: context.remoteAddress, expiresAt: WallClock.nowMillis() + lifetime * 1000)
                let cookie = Cookie(name: AuthenticationMiddleware.sessionCookie, value: sessionID, maxAge: Int(lifetime), path: "/",
                                    secure: services.configuration.secureCookies, httpOnly: true, sameSite: .strict)
                headers[.setCookie] = cookie.description
                response = LoginResponse(token: nil, tokenType: nil, expiresIn: lifetime, csrfToken: csrf, user: UserBody(user),
                                         passwordChangeRequired: user.mustChangePassword)
            } else {
                let issued = try await services.tokens.issue(userID: user.id)
                try await services.store.recordToken(jti: issued.jti, userID: user.id, issuedAt: issued.issuedAt, expiresAt: issued.expiresAt)
                response = LoginResponse(token: issued.token, expiresIn: (issued.expiresAt - issued.issuedAt) / 1000, user: UserBody(user),
                                         passwordChangeRequired: user.mustChangePassword)
            }
            await services.audit(actor: "user:\(user.username)", userID: user.id, action: "login", subject: user.username,
                                 source: context.remoteAddress, detail: user.mfaEnabled ? "with MFA" : "")
            return JSONResponse.encode(response, headers: headers)
        }

        routes.on("logout") { _, context, _ in
            let principal = try context.caller()
            switch principal.credential {
            case .token(let jti): try await services.store.revokeToken(jti: jti)
            case .session(let id): try await services.store.revokeSession(idHash: id)
            default: throw APIError.forbidden("only tokens and sessions can log out; revoke API keys instead")
            }
            await services.audit(principal, "logout", subject: principal.displayName, source: context.remoteAddress)
            var headers: HTTPFields = [:]
            if case .session = principal.credential {
                headers[.setCookie] = "\(AuthenticationMiddleware.sessionCookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
            }
            return JSONResponse.encode(MessageResponse("logged out"), headers: headers)
        }

        routes.on("whoami") { _, context, _ in
            guard let user = try context.caller().user else { throw APIError.forbidden("server keys have no user") }
            return JSONResponse.encode(UserBody(user))
        }

        routes.on("changePassword") { request, context, operation in
            var request = request
            let principal = try context.caller()
            guard let user = principal.user else { throw APIError.forbidden("server keys have no password") }
            let body = try await request.decode(ChangePasswordRequest.self, operation)
            try await services.login.reauthenticate(user, password: body.currentPassword, passwordField: "current_password",
                                                    mfaCode: body.mfaCode, source: context.remoteAddress, action: "password.change")
            let new = body.newPassword
            if let problem = PasswordPolicy.problem(with: new, username: user.username) { throw APIError.invalid("new_password", problem) }
            let revoked = try await services.store.setPassword(user.id, hash: try await services.hasher.hash(new))
            await services.audit(principal, "password.change", subject: user.username, source: context.remoteAddress)
            return JSONResponse.encode(RevocationResponse("password changed", revoked))
        }

        routes.on("mfaSetup") { request, context, operation in
            var request = request
            let principal = try context.caller()
            guard let user = principal.user else { throw APIError.forbidden("server keys have no MFA") }
            let body = try await request.decode(MFASetupRequest.self, operation)
            if user.mfaEnabled { throw APIError.conflict("MFA is already enabled; disable it first") }
            try await services.login.reauthenticate(user, password: body.password, mfaCode: nil, source: context.remoteAddress, action: "mfa.setup")
            let secret = TOTPAuthenticator.newSecret()
            try await services.store.setPendingMFASecret(user.id, sealed: try services.secretBox.seal(Array(secret.utf8)))
            await services.audit(principal, "mfa.setup", subject: user.username, source: context.remoteAddress)
            return JSONResponse.encode(MFASetupResponse(secret: TOTPAuthenticator.displaySecret(secret),
                                                        otpauthURI: TOTPAuthenticator.uri(secret: secret, account: user.username)))
        }

        routes.on("mfaVerify") { request, context, operation in
            var request = request
            let principal = try context.caller()
            guard let user = principal.user else { throw APIError.forbidden("server keys have no MFA") }
            let body = try await request.decode(MFACodeRequest.self, operation)
            guard let sealed = user.mfaPendingSecret else { throw APIError.conflict("no MFA setup in progress; call /api/v1/auth/mfa/setup") }
            let secret = String(decoding: try services.secretBox.open(sealed), as: UTF8.self)
            guard let step = TOTPAuthenticator.verify(code: body.code, secret: secret) else {
                await services.audit(principal, "mfa.enable", subject: user.username, source: context.remoteAddress, outcome: "failure")
                throw APIError.refused("code", "does not match the new secret")
            }
            try await services.store.enableMFA(user.id, step: step)
            await services.audit(principal, "mfa.enable", subject: user.username, source: context.remoteAddress)
            return JSONResponse.encode(MessageResponse("MFA enabled"))
        }

        routes.on("mfaDisable") { request, context, operation in
            var request = request
            let principal = try context.caller()
            guard let user = principal.user else { throw APIError.forbidden("server keys have no MFA") }
            let body = try await request.decode(MFADisableRequest.self, operation)
            guard user.mfaEnabled else { throw APIError.conflict("MFA is not enabled") }
            try await services.login.reauthenticate(user, password: body.password, mfaCode: body.code, mfaField: "code",
                                                    source: context.remoteAddress, action: "mfa.disable")
            try await services.store.disableMFA(user.id)
            await services.audit(principal, "mfa.disable", subject: user.username, source: context.remoteAddress)
            return JSONResponse.encode(MessageResponse("MFA disabled"))
        }
    }
}
