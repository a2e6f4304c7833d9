import Foundation
import ProbeModel

// Bodies of the device, enrollment and device-facing routes.

/// `Schemas.device`.
struct DeviceBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.device }

    var id: Int64
    var serial: String
    var hostname: String
    var os: String
    var osVersion: String
    var clientType: String
    var clientVersion: String
    var ouID: Int64
    var active: Bool
    /// `DeviceStatus`'s raw value, as of the time the body was made.
    var status: String
    var enrolledAt: APITimestamp
    var enrolledAddress: String
    @ExplicitNull var lastSeenAt: APITimestamp?
    @ExplicitNull var agent: AgentStatus?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case serial
        case hostname
        case os
        case osVersion = "os_version"
        case clientType = "client_type"
        case clientVersion = "client_version"
        case ouID = "ou_id"
        case active
        case status
        case enrolledAt = "enrolled_at"
        case enrolledAddress = "enrolled_address"
        case lastSeenAt = "last_seen_at"
        case agent
    }
}

extension DeviceBody {
    /// `now` decides the status (one value for a whole listing).
    init(_ device: Device, now: Int64 = WallClock.nowMillis()) {
        self.init(id: device.id, serial: device.serial, hostname: device.hostname, os: device.os, osVersion: device.osVersion,
                  clientType: device.clientType, clientVersion: device.clientVersion, ouID: device.ouID, active: device.active,
                  status: device.status(now: now).rawValue, enrolledAt: APITimestamp(millis: device.enrolledAt),
                  enrolledAddress: device.enrolledAddress, lastSeenAt: APITimestamp(millis: device.lastSeenAt),
                  agent: device.agentStatus.flatMap { try? JSONResponse.decoder.decode(AgentStatus.self, from: Data($0.utf8)) })
    }
}

/// `Schemas.deviceList`.
struct DeviceList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.deviceList }

    var devices: [DeviceBody]
    var total: Int64
    var limit: Int
    var offset: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case devices
        case total
        case limit
        case offset
    }
}

/// `Schemas.deviceSummary`: counts of all devices, and of the active ones in each status.
struct DeviceSummaryBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.deviceSummary }

    var total: Int64
    var active: Int64
    var inactive: Int64
    var online: Int64
    var recent: Int64
    var offline: Int64
    var stale: Int64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case total
        case active
        case inactive
        case online
        case recent
        case offline
        case stale
    }
}

extension DeviceSummaryBody {
    init(_ summary: DeviceSummary) {
        self.init(total: summary.total, active: summary.active, inactive: summary.inactive,
                  online: summary.byStatus[.online] ?? 0, recent: summary.byStatus[.recent] ?? 0,
                  offline: summary.byStatus[.offline] ?? 0, stale: summary.byStatus[.stale] ?? 0)
    }
}

/// `Schemas.enrollmentSecret`. `secret` is only in the creation response.
struct EnrollmentSecretBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.enrollmentSecret }

    var id: Int64
    var ouID: Int64
    var name: String
    var prefix: String
    var createdAt: APITimestamp
    @ExplicitNull var expiresAt: APITimestamp?
    @ExplicitNull var maxUses: Int64?
    var uses: Int64
    @ExplicitNull var revokedAt: APITimestamp?
    /// Shown once.
    var secret: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case ouID = "ou_id"
        case name
        case prefix
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case maxUses = "max_uses"
        case uses
        case revokedAt = "revoked_at"
        case secret
    }
}

extension EnrollmentSecretBody {
    /// `secret`: the secret itself, for the creation response only.
    init(_ record: EnrollmentSecretRecord, secret: String? = nil) {
        self.init(id: record.id, ouID: record.ouID, name: record.name, prefix: record.prefix,
                  createdAt: APITimestamp(millis: record.createdAt), expiresAt: APITimestamp(millis: record.expiresAt),
                  maxUses: record.maxUses, uses: record.uses, revokedAt: APITimestamp(millis: record.revokedAt), secret: secret)
    }
}

/// `Schemas.enrollmentSecretList`.
struct EnrollmentSecretList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.enrollmentSecretList }

    var enrollmentSecrets: [EnrollmentSecretBody]

    init(_ enrollmentSecrets: [EnrollmentSecretBody]) { self.enrollmentSecrets = enrollmentSecrets }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enrollmentSecrets = "enrollment_secrets"
    }
}

/// `Schemas.createEnrollmentSecret`.
struct CreateEnrollmentSecretRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.createEnrollmentSecret }

    /// Devices enrolled with the secret join this OU.
    var ouID: Int64
    var name: String
    /// None: the secret does not expire.
    var expiresInSeconds: Int64?
    /// None: unlimited.
    var maxUses: Int64?

    init(ouID: Int64, name: String, expiresInSeconds: Int64? = nil, maxUses: Int64? = nil) {
        self.ouID = ouID
        self.name = name
        self.expiresInSeconds = expiresInSeconds
        self.maxUses = maxUses
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ouID = "ou_id"
        case name
        case expiresInSeconds = "expires_in_seconds"
        case maxUses = "max_uses"
    }
}

/// `Schemas.enroll`.
struct EnrollRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.enroll }

    var secret: String
    /// Stable identity of the device.
    var serial: String
    var hostname: String?
    var os: String?
    var osVersion: String?
    var clientType: String?
    var clientVersion: String?
    /// The device's token, to re-enroll a serial that holds one.
    var currentToken: String?

    init(secret: String, serial: String, hostname: String? = nil, os: String? = nil, osVersion: String? = nil,
         clientType: String? = nil, clientVersion: String? = nil, currentToken: String? = nil) {
        self.secret = secret
        self.serial = serial
        self.hostname = hostname
        self.os = os
        self.osVersion = osVersion
        self.clientType = clientType
        self.clientVersion = clientVersion
        self.currentToken = currentToken
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case secret
        case serial
        case hostname
        case os
        case osVersion = "os_version"
        case clientType = "client_type"
        case clientVersion = "client_version"
        case currentToken = "current_token"
    }

    /// What the device says about itself (absent fields empty).
    var info: DeviceInfo {
        var info = DeviceInfo(serial: serial)
        info.hostname = hostname ?? ""
        info.os = os ?? ""
        info.osVersion = osVersion ?? ""
        info.clientType = clientType ?? ""
        info.clientVersion = clientVersion ?? ""
        return info
    }
}

/// `Schemas.enrolled`.
struct EnrollmentResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.enrolled }

    var device: DeviceBody
    /// Shown once; replaced by re-enrolling.
    var token: String

    init(device: DeviceBody, token: String) {
        self.device = device
        self.token = token
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case device
        case token
    }
}

/// `Schemas.deviceConfig`: the config that applies to the calling device. `config`, `name` and
/// `source_ou_id` are null when no config applies (`source_ou_id` also for the default).
struct DeviceConfigResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.deviceConfig }

    @ExplicitNull var config: ClientConfigDocument?
    @ExplicitNull var name: String?
    @ExplicitNull var sourceOUID: Int64?
    var nextCheckinSeconds: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case config
        case name
        case sourceOUID = "source_ou_id"
        case nextCheckinSeconds = "next_checkin_seconds"
    }
}

/// `Schemas.heartbeat`.
struct HeartbeatResponse: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.heartbeat }

    var deviceID: Int64
    var lastSeenAt: APITimestamp

    enum CodingKeys: String, CodingKey, CaseIterable {
        case deviceID = "device_id"
        case lastSeenAt = "last_seen_at"
    }
}

/// `Schemas.agentStatus`: what an agent says about itself in its heartbeat (the shared model's
/// type: the agent encodes the same struct).
extension AgentStatus: APIBody {
    static var schema: ObjectSchema { Schemas.agentStatus }
}
