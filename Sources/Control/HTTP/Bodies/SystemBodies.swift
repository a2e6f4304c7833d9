import Foundation

// Bodies of the system routes: health, readiness, the audit log, server keys.

/// `Schemas.health` (liveness).
struct HealthResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.health }

    var status: String

    init(status: String = "ok") { self.status = status }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case status
    }
}

/// `Schemas.ready`: readiness, and which store answered.
struct ReadyResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.ready }

    var status: String
    var store: String

    init(status: String = "ready", store: String) {
        self.status = status
        self.store = store
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case status
        case store
    }
}

/// One entry of `Schemas.audit` (declared free-form there).
struct AuditEntryBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.auditEntry }

    var id: Int64
    var at: APITimestamp
    var actor: String
    @ExplicitNull var actorUserID: Int64?
    var action: String
    var subject: String
    var sourceAddress: String
    var outcome: String
    var detail: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case at
        case actor
        case actorUserID = "actor_user_id"
        case action
        case subject
        case sourceAddress = "source_address"
        case outcome
        case detail
    }
}

extension AuditEntryBody {
    init(_ entry: AuditEntry) {
        self.init(id: entry.id, at: APITimestamp(millis: entry.at), actor: entry.actor, actorUserID: entry.actorUserID,
                  action: entry.action, subject: entry.subject, sourceAddress: entry.sourceAddress, outcome: entry.outcome,
                  detail: entry.detail)
    }
}

/// `Schemas.audit`, newest first; `next_cursor` (null on the last page) is passed as `cursor`.
struct AuditPage: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.audit }

    var entries: [AuditEntryBody]
    @ExplicitNull var nextCursor: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case entries
        case nextCursor = "next_cursor"
    }
}

/// `Schemas.serverKey`; `key` only in the creation response.
struct ServerKeyBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.serverKey }

    var id: Int64
    var name: String
    var prefix: String
    @ExplicitNull var ouID: Int64?
    var createdAt: APITimestamp
    @ExplicitNull var lastUsedAt: APITimestamp?
    @ExplicitNull var revokedAt: APITimestamp?
    var key: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case name
        case prefix
        case ouID = "ou_id"
        case createdAt = "created_at"
        case lastUsedAt = "last_used_at"
        case revokedAt = "revoked_at"
        case key
    }
}

extension ServerKeyBody {
    init(_ record: ServerKeyRecord, key secret: String? = nil) {
        self.init(id: record.id, name: record.name, prefix: record.prefix, ouID: record.ouID, createdAt: APITimestamp(millis: record.createdAt),
                  lastUsedAt: APITimestamp(millis: record.lastUsedAt), revokedAt: APITimestamp(millis: record.revokedAt), key: secret)
    }
}

/// `Schemas.serverKeyList`.
struct ServerKeyList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.serverKeyList }

    var serverKeys: [ServerKeyBody]

    init(_ serverKeys: [ServerKeyBody]) { self.serverKeys = serverKeys }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case serverKeys = "server_keys"
    }
}

/// `Schemas.createServerKey`.
struct CreateServerKeyRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.createServerKey }

    var name: String
    var ouID: Int64?

    init(name: String, ouID: Int64? = nil) {
        self.name = name
        self.ouID = ouID
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case ouID = "ou_id"
    }
}
