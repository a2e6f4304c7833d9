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

/// `Schemas.serverKey`: the creation response; `key` is shown once.
struct ServerKeyBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.serverKey }

    var id: Int64
    var name: String
    var prefix: String
    var key: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case name
        case prefix
        case key
    }
}

extension ServerKeyBody {
    init(_ record: ServerKeyRecord, key: String) {
        self.init(id: record.id, name: record.name, prefix: record.prefix, key: key)
    }
}
