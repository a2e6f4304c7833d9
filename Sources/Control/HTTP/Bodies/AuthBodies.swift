import Foundation

// Bodies of the auth routes (login, logout, password change, MFA).

/// `Schemas.login`.
struct LoginRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.login }

    var username: String
    var password: String
    /// Required when the account has MFA enabled.
    var mfaCode: String?
    /// Also start a cookie session for the web UI.
    var session: Bool?

    init(username: String, password: String, mfaCode: String? = nil, session: Bool? = nil) {
        self.username = username
        self.password = password
        self.mfaCode = mfaCode
        self.session = session
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case username
        case password
        case mfaCode = "mfa_code"
        case session
    }
}

/// `Schemas.loginResponse`.
struct LoginResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.loginResponse }

    /// Absent when a cookie session was started: the cookie is the credential, and no bearer
    /// token that script could read (and logout would not end) is issued beside it.
    var token: String?
    var tokenType: String?
    /// Seconds: of the token, or of the session.
    var expiresIn: Int64
    /// Present when a cookie session was started.
    var csrfToken: String?
    var user: UserBody
    /// The account still has its one-time password: every route but the password change,
    /// logout and whoami answers 403 until it is changed.
    var passwordChangeRequired: Bool

    init(token: String?, tokenType: String? = "Bearer", expiresIn: Int64, csrfToken: String? = nil, user: UserBody,
         passwordChangeRequired: Bool = false) {
        self.token = token
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.csrfToken = csrfToken
        self.user = user
        self.passwordChangeRequired = passwordChangeRequired
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case csrfToken = "csrf_token"
        case user
        case passwordChangeRequired = "password_change_required"
    }
}

/// `Schemas.changePassword`.
struct ChangePasswordRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.changePassword }

    var currentPassword: String
    var newPassword: String
    /// Required when the account has MFA.
    var mfaCode: String?

    init(currentPassword: String, newPassword: String, mfaCode: String? = nil) {
        self.currentPassword = currentPassword
        self.newPassword = newPassword
        self.mfaCode = mfaCode
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case currentPassword = "current_password"
        case newPassword = "new_password"
        case mfaCode = "mfa_code"
    }
}

/// `Schemas.mfaSetupRequest`.
struct MFASetupRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.mfaSetupRequest }

    var password: String

    init(password: String) { self.password = password }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case password
    }
}

/// `Schemas.mfaSetup`.
struct MFASetupResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.mfaSetup }

    /// Base32, shown once.
    var secret: String
    var otpauthURI: String

    init(secret: String, otpauthURI: String) {
        self.secret = secret
        self.otpauthURI = otpauthURI
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case secret
        case otpauthURI = "otpauth_uri"
    }
}

/// `Schemas.mfaCode`.
struct MFACodeRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.mfaCode }

    var code: String

    init(code: String) { self.code = code }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case code
    }
}

/// `Schemas.mfaDisable`.
struct MFADisableRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.mfaDisable }

    var password: String
    var code: String

    init(password: String, code: String) {
        self.password = password
        self.code = code
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case password
        case code
    }
}

/// `Schemas.message`.
struct MessageResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.message }

    var message: String

    init(_ message: String) { self.message = message }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case message
    }
}

/// `Schemas.revokedCounts`.
struct RevokedCounts: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.revokedCounts }

    var tokens: Int64
    var sessions: Int64
    var apiKeys: Int64

    init(_ revoked: RevokedCredentials) {
        tokens = revoked.tokens
        sessions = revoked.sessions
        apiKeys = revoked.apiKeys
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tokens
        case sessions
        case apiKeys = "api_keys"
    }
}

/// `Schemas.revocation`: a password change, reset or revocation, and what it ended.
struct RevocationResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.revocation }

    var message: String
    var revoked: RevokedCounts

    init(_ message: String, _ revoked: RevokedCredentials) {
        self.message = "\(message); revoked \(revoked.summary)"
        self.revoked = RevokedCounts(revoked)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case message
        case revoked
    }
}
