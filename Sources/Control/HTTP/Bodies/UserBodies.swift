import Foundation

// Bodies of the user and API key routes.

/// `Schemas.user`: the public view of a `User` (never its hashes or MFA secrets). `email`,
/// `ou_id` and `last_login_at` are always sent, as null when unset.
struct UserBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.user }

    var id: Int64
    var username: String
    @ExplicitNull var email: String?
    var role: Role
    @ExplicitNull var ouID: Int64?
    var active: Bool
    var mfaEnabled: Bool
    var createdAt: APITimestamp
    @ExplicitNull var lastLoginAt: APITimestamp?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case username
        case email
        case role
        case ouID = "ou_id"
        case active
        case mfaEnabled = "mfa_enabled"
        case createdAt = "created_at"
        case lastLoginAt = "last_login_at"
    }
}

extension UserBody {
    init(_ user: User) {
        self.init(id: user.id, username: user.username, email: user.email, role: user.role, ouID: user.ouID, active: user.active,
                  mfaEnabled: user.mfaEnabled, createdAt: APITimestamp(millis: user.createdAt),
                  lastLoginAt: APITimestamp(millis: user.lastLoginAt))
    }
}

/// `Schemas.userList`.
struct UserList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.userList }

    var users: [UserBody]
    var total: Int64
    var limit: Int
    var offset: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case users
        case total
        case limit
        case offset
    }
}

/// `Schemas.createUser`.
struct CreateUserRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.createUser }

    var username: String
    var password: String
    var email: String?
    /// Default `user`.
    var role: Role?
    /// Default: the creator's OU (none for global roles).
    var ouID: Int64?
    /// Default true.
    var active: Bool?

    init(username: String, password: String, email: String? = nil, role: Role? = nil, ouID: Int64? = nil, active: Bool? = nil) {
        self.username = username
        self.password = password
        self.email = email
        self.role = role
        self.ouID = ouID
        self.active = active
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case username
        case password
        case email
        case role
        case ouID = "ou_id"
        case active
    }
}

/// `Schemas.updateUser`: a partial update. `email` and `ou_id` tell "left out" from "set to
/// null" (`Patch`); `role` and `active` are not nullable.
struct UpdateUserRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.updateUser }

    var email: Patch<String> = .absent
    var role: Role? = nil
    var ouID: Patch<Int64> = .absent
    var active: Bool? = nil

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email
        case role
        case ouID = "ou_id"
        case active
    }

    /// The JSON names of the fields the body carries (null included), sorted.
    var presentFields: [String] {
        var fields: [String] = []
        if email != .absent { fields.append(CodingKeys.email.rawValue) }
        if role != nil { fields.append(CodingKeys.role.rawValue) }
        if ouID != .absent { fields.append(CodingKeys.ouID.rawValue) }
        if active != nil { fields.append(CodingKeys.active.rawValue) }
        return fields.sorted()
    }
}

extension UpdateUserRequest {
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        email = try container.decodePatch(String.self, forKey: .email)
        role = try container.decodeIfPresent(Role.self, forKey: .role)
        ouID = try container.decodePatch(Int64.self, forKey: .ouID)
        active = try container.decodeIfPresent(Bool.self, forKey: .active)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodePatch(email, forKey: .email)
        try container.encodeIfPresent(role, forKey: .role)
        try container.encodePatch(ouID, forKey: .ouID)
        try container.encodeIfPresent(active, forKey: .active)
    }
}

/// `Schemas.setPassword`.
struct SetPasswordRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.setPassword }

    var password: String

    init(password: String) { self.password = password }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case password
    }
}

/// `Schemas.apiKey`. `key` is only in the creation response.
struct APIKeyBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.apiKey }

    var id: Int64
    var name: String
    var prefix: String
    var createdAt: APITimestamp
    @ExplicitNull var lastUsedAt: APITimestamp?
    @ExplicitNull var revokedAt: APITimestamp?
    /// 64 hex characters, shown once.
    var key: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case name
        case prefix
        case createdAt = "created_at"
        case lastUsedAt = "last_used_at"
        case revokedAt = "revoked_at"
        case key
    }
}

extension APIKeyBody {
    /// `secret`: the key itself, for the creation response only.
    init(_ record: APIKeyRecord, key secret: String? = nil) {
        self.init(id: record.id, name: record.name, prefix: record.prefix, createdAt: APITimestamp(millis: record.createdAt),
                  lastUsedAt: APITimestamp(millis: record.lastUsedAt), revokedAt: APITimestamp(millis: record.revokedAt), key: secret)
    }
}

/// `Schemas.apiKeyList`.
struct APIKeyList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.apiKeyList }

    var apiKeys: [APIKeyBody]

    init(_ apiKeys: [APIKeyBody]) { self.apiKeys = apiKeys }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiKeys = "api_keys"
    }
}

/// `Schemas.createAPIKey`.
struct CreateAPIKeyRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.createAPIKey }

    var name: String
    var password: String
    var mfaCode: String?

    init(name: String, password: String, mfaCode: String? = nil) {
        self.name = name
        self.password = password
        self.mfaCode = mfaCode
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case password
        case mfaCode = "mfa_code"
    }
}
