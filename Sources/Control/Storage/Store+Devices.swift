import Foundation
import SQLDatabase

// MARK: Models

/// An enrolled agent. Its token (shown once at enrollment) is stored as a SHA-256 hash.
public struct Device: Sendable, Equatable {
    public var id: Int64
    public var serial: String
    public var hostname: String
    public var os: String
    public var osVersion: String
    public var clientType: String
    public var clientVersion: String
    public var ouID: Int64
    public var enrollmentSecretID: Int64?
    public var enrolledAddress: String
    public var active: Bool
    public var enrolledAt: Int64
    public var lastSeenAt: Int64?
    /// The agent's state from its last heartbeat, as JSON (`Schemas.agentStatus`).
    public var agentStatus: String? = nil

    public func status(now: Int64) -> DeviceStatus { DeviceStatus(lastSeen: lastSeenAt, now: now) }
}

/// What an enrolling device says about itself.
public struct DeviceInfo: Sendable, Equatable {
    public var serial: String
    public var hostname: String = ""
    public var os: String = ""
    public var osVersion: String = ""
    public var clientType: String = ""
    public var clientVersion: String = ""
    public init(serial: String) { self.serial = serial }
}

/// How recently a device was heard from: online < 5 min, recent < 1 h, offline < 24 h, stale
/// beyond that or never.
public enum DeviceStatus: String, Sendable, CaseIterable {
    case online, recent, offline, stale

    static let onlineWithin: Int64 = 5 * 60_000
    static let recentWithin: Int64 = 60 * 60_000
    static let offlineWithin: Int64 = 24 * 60 * 60_000

    init(lastSeen: Int64?, now: Int64) {
        guard let lastSeen else { self = .stale; return }
        let age = now - lastSeen
        self = age < Self.onlineWithin ? .online : age < Self.recentWithin ? .recent : age < Self.offlineWithin ? .offline : .stale
    }

    /// The same classification as a SQL condition on `last_seen_at`.
    func condition(now: Int64) -> (String, [SQLValue]) {
        switch self {
        case .online: ("last_seen_at >= ?", [.int(now - Self.onlineWithin)])
        case .recent: ("last_seen_at >= ? AND last_seen_at < ?", [.int(now - Self.recentWithin), .int(now - Self.onlineWithin)])
        case .offline: ("last_seen_at >= ? AND last_seen_at < ?", [.int(now - Self.offlineWithin), .int(now - Self.recentWithin)])
        case .stale: ("(last_seen_at IS NULL OR last_seen_at < ?)", [.int(now - Self.offlineWithin)])
        }
    }
}

public struct DeviceQuery: Sendable {
    /// nil = every OU.
    public var ouIDs: [Int64]?
    public var status: DeviceStatus?
    public var active: Bool?
    /// Substring of serial or hostname.
    public var search: String?
    public var limit = 50
    public var offset = 0
    public init() {}
}

public struct DeviceSummary: Sendable, Equatable {
    public var total: Int64 = 0, active: Int64 = 0, inactive: Int64 = 0
    public var byStatus: [DeviceStatus: Int64] = [:]
}

public struct EnrollmentSecretRecord: Sendable, Equatable {
    public var id: Int64
    public var ouID: Int64
    public var name: String
    public var prefix: String
    public var createdBy: Int64?
    public var createdAt: Int64
    public var expiresAt: Int64?
    public var maxUses: Int64?
    public var uses: Int64
    public var revokedAt: Int64?
}

extension Device {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, serial: row.string("serial") ?? "", hostname: row.string("hostname") ?? "",
                  os: row.string("os") ?? "", osVersion: row.string("os_version") ?? "", clientType: row.string("client_type") ?? "",
                  clientVersion: row.string("client_version") ?? "", ouID: row.int("ou_id") ?? 0,
                  enrollmentSecretID: row.int("enrollment_secret_id"), enrolledAddress: row.string("enrolled_address") ?? "",
                  active: row.bool("active"), enrolledAt: row.int("enrolled_at") ?? 0, lastSeenAt: row.int("last_seen_at"),
                  agentStatus: row.string("agent_status"))
    }
}

extension EnrollmentSecretRecord {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, ouID: row.int("ou_id") ?? 0, name: row.string("name") ?? "", prefix: row.string("prefix") ?? "",
                  createdBy: row.int("created_by"), createdAt: row.int("created_at") ?? 0, expiresAt: row.int("expires_at"),
                  maxUses: row.int("max_uses"), uses: row.int("uses") ?? 0, revokedAt: row.int("revoked_at"))
    }

    func usable(now: Int64) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true) && (maxUses.map { uses < $0 } ?? true)
    }
}

// MARK: Devices and enrollment

extension Store {
    /// OU scope as a SQL condition on `column`, or nil when the scope is everything.
    static func scopeCondition(_ ouIDs: [Int64]?, column: String = "ou_id") -> (String, [SQLValue])? {
        guard let ouIDs else { return nil }
        if ouIDs.isEmpty { return ("1 = 0", []) }
        return ("\(column) IN (\(placeholders(ouIDs.count)))", ouIDs.map(SQLValue.int))
    }

    public func createEnrollmentSecret(ouID: Int64, name: String, prefix: String, hash: String, createdBy: Int64?,
                                       expiresAt: Int64?, maxUses: Int64?) async throws -> EnrollmentSecretRecord {
        let now = WallClock.nowMillis()
        do {
            let id = try await pool.withConnection { c in
                try c.execute("""
                    INSERT INTO enrollment_secrets (ou_id, name, prefix, secret_hash, created_by, created_at, expires_at, max_uses, uses)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
                    """, [.int(ouID), .text(name), .text(prefix), .text(hash), .optional(createdBy), .int(now), .optional(expiresAt), .optional(maxUses)]).lastInsertID
            }
            return EnrollmentSecretRecord(id: id, ouID: ouID, name: name, prefix: prefix, createdBy: createdBy, createdAt: now,
                                          expiresAt: expiresAt, maxUses: maxUses, uses: 0, revokedAt: nil)
        } catch {
            throw Self.translate(error, conflict: "enrollment secret collision")
        }
    }

    public func enrollmentSecrets(ouIDs: [Int64]?) async throws -> [EnrollmentSecretRecord] {
        try await pool.withConnection { c in
            let scope = Self.scopeCondition(ouIDs)
            return try c.query("SELECT * FROM enrollment_secrets\(scope.map { " WHERE " + $0.0 } ?? "") ORDER BY id", scope?.1 ?? [])
                .map(EnrollmentSecretRecord.init(row:))
        }
    }

    public func enrollmentSecret(_ id: Int64) async throws -> EnrollmentSecretRecord? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM enrollment_secrets WHERE id = ?", [.int(id)]).first.map(EnrollmentSecretRecord.init(row:))
        }
    }

    public func revokeEnrollmentSecret(_ id: Int64) async throws {
        try await pool.withConnection { c in
            guard try c.execute("UPDATE enrollment_secrets SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                [.int(WallClock.nowMillis()), .int(id)]).affectedRows == 1 else {
                throw StoreError.notFound("enrollment secret \(id)")
            }
        }
    }

    public enum EnrollmentError: Error, Equatable, Sendable {
        /// Unknown, revoked, expired or used-up secret (one answer for all: the endpoint is public).
        case badSecret
        /// The serial is enrolled and holds a token the request did not present, in this secret's OU
        /// or in another (one answer for both: a secret of one OU does not learn where a serial is).
        case serialTaken
        /// The serial belongs to a deactivated device.
        case deactivated
    }

    /// Enrolls a device with a secret, or re-enrolls the same serial within the secret's OU (new
    /// token, metadata refreshed, OU unchanged). Re-enrolling a device that holds a token needs
    /// that token (`currentTokenHash`): a secret alone cannot take over a live device; after an
    /// administrator's reset (`resetEnrollment`, or deactivate and reactivate) it holds none. One
    /// transaction: the secret's use count, the device row and its token hash change together or
    /// not at all.
    public func enroll(secretHash: String, info: DeviceInfo, tokenHash: String, currentTokenHash: String? = nil,
                       address: String) async throws -> (device: Device, created: Bool) {
        let now = WallClock.nowMillis()
        let outcome: (device: Device, created: Bool) = try await pool.withConnection { c in
            do {
                return try c.transaction {
                    guard let secret = try c.query("SELECT * FROM enrollment_secrets WHERE secret_hash = ?", [.text(secretHash)])
                        .first.map(EnrollmentSecretRecord.init(row:)), secret.usable(now: now) else { throw EnrollmentError.badSecret }
                    // Counted first, guarded in SQL, so two devices racing for the last use cannot both win.
                    guard try c.execute("UPDATE enrollment_secrets SET uses = uses + 1 WHERE id = ? AND (max_uses IS NULL OR uses < max_uses)",
                                        [.int(secret.id)]).affectedRows == 1 else { throw EnrollmentError.badSecret }
                    let metadata: [SQLValue] = [.text(info.hostname), .text(info.os), .text(info.osVersion), .text(info.clientType), .text(info.clientVersion)]
                    if let row = try c.query("SELECT * FROM devices WHERE serial = ?", [.text(info.serial)]).first {
                        let existing = Device(row: row)
                        let held = row.string("token_hash")
                        guard existing.ouID == secret.ouID, held == nil || held == currentTokenHash else { throw EnrollmentError.serialTaken }
                        guard existing.active else { throw EnrollmentError.deactivated }
                        try c.execute("""
                            UPDATE devices SET hostname = ?, os = ?, os_version = ?, client_type = ?, client_version = ?,
                              enrollment_secret_id = ?, token_hash = ?, enrolled_address = ?, last_seen_at = ? WHERE id = ?
                            """, metadata + [.int(secret.id), .text(tokenHash), .text(address), .int(now), .int(existing.id)])
                        let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(existing.id)]).first.map(Device.init(row:))!
                        return (device, false)
                    }
                    let id = try c.execute("""
                        INSERT INTO devices (serial, hostname, os, os_version, client_type, client_version, ou_id, enrollment_secret_id,
                          token_hash, enrolled_address, active, enrolled_at, last_seen_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                        """, [.text(info.serial)] + metadata + [.int(secret.ouID), .int(secret.id), .text(tokenHash), .text(address), .int(now), .int(now)]).lastInsertID
                    let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:))!
                    return (device, true)
                }
            } catch let error as SQLError where error.kind == .uniqueViolation {
                // Another enrollment of the same serial won the race.
                throw StoreError.conflict("device \(info.serial) is being enrolled concurrently; retry")
            }
        }
        // Re-enrolling replaced a live device's token: a remembered old token must go. A new
        // device or a refused enrollment changes no credential.
        if !outcome.created { authenticationChanged() }
        return outcome
    }

    /// An administrator's reset: the device's token stops working and the next enrollment of its
    /// serial with a secret of its OU claims it without the old token (a replaced machine).
    public func resetEnrollment(_ id: Int64) async throws -> Device {
        try await changingAuthentication {
            try await pool.withConnection { c in
                guard try c.execute("UPDATE devices SET token_hash = NULL WHERE id = ?", [.int(id)]).affectedRows == 1,
                      let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:)) else {
                    throw StoreError.notFound("device \(id)")
                }
                return device
            }
        }
    }

    /// The active device holding this token; refreshes `last_seen_at` at most every 30 s.
    public func authenticateDevice(tokenHash: String) async throws -> Device? {
        try await pool.withConnection { c in
            guard var device = try c.query("SELECT * FROM devices WHERE token_hash = ? AND active = 1", [.text(tokenHash)]).first.map(Device.init(row:)) else {
                return nil
            }
            let now = WallClock.nowMillis()
            if (device.lastSeenAt ?? 0) < now - 30_000 {
                try c.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [.int(now), .int(device.id)])
                device.lastSeenAt = now
            }
            return device
        }
    }

    /// An explicit heartbeat: records the time now.
    /// Records a heartbeat; `agentStatus` (JSON) replaces the last one when given.
    public func markDeviceSeen(_ id: Int64, agentStatus: String? = nil) async throws -> Int64 {
        let now = WallClock.nowMillis()
        try await pool.withConnection { c in
            if let agentStatus {
                _ = try c.execute("UPDATE devices SET last_seen_at = ?, agent_status = ? WHERE id = ?", [.int(now), .text(agentStatus), .int(id)])
            } else {
                _ = try c.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [.int(now), .int(id)])
            }
        }
        return now
    }

    public func device(_ id: Int64) async throws -> Device? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:))
        }
    }

    public func listDevices(_ query: DeviceQuery, now: Int64? = nil) async throws -> (devices: [Device], total: Int64) {
        let now = now ?? WallClock.nowMillis()
        return try await pool.withConnection { c in
            var clauses: [String] = [], binds: [SQLValue] = []
            if let (sql, values) = Self.scopeCondition(query.ouIDs) { clauses.append(sql); binds += values }
            if let (sql, values) = query.status?.condition(now: now) { clauses.append(sql); binds += values }
            if let active = query.active { clauses.append("active = ?"); binds.append(.bool(active)) }
            if let search = query.search, !search.isEmpty {
                let pattern = Store.likePattern(search)
                clauses.append("(serial LIKE ? ESCAPE '!' OR hostname LIKE ? ESCAPE '!')")
                binds += [.text(pattern), .text(pattern)]
            }
            let filter = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
            let total = try c.scalar("SELECT COUNT(*) FROM devices\(filter)", binds) ?? 0
            let devices = try c.query("SELECT * FROM devices\(filter) ORDER BY id LIMIT ? OFFSET ?",
                                      binds + [.int(Int64(query.limit)), .int(Int64(query.offset))]).map(Device.init(row:))
            return (devices, total)
        }
    }

    public func deviceSummary(ouIDs: [Int64]?, now: Int64? = nil) async throws -> DeviceSummary {
        let now = now ?? WallClock.nowMillis()
        return try await pool.withConnection { c in
            let scope = Self.scopeCondition(ouIDs)
            var columns = ["COUNT(*) AS total", "COALESCE(SUM(active), 0) AS active"]
            var binds: [SQLValue] = []
            for status in DeviceStatus.allCases {
                let (sql, values) = status.condition(now: now)
                columns.append("COALESCE(SUM(CASE WHEN active = 1 AND \(sql) THEN 1 ELSE 0 END), 0) AS \(status.rawValue)")
                binds += values
            }
            guard let row = try c.query("SELECT \(columns.joined(separator: ", ")) FROM devices\(scope.map { " WHERE " + $0.0 } ?? "")",
                                        binds + (scope?.1 ?? [])).first else { return DeviceSummary() }
            var summary = DeviceSummary(total: row.int("total") ?? 0, active: row.int("active") ?? 0)
            summary.inactive = summary.total - summary.active
            for status in DeviceStatus.allCases { summary.byStatus[status] = row.int(status.rawValue) ?? 0 }
            return summary
        }
    }

    /// Deactivating also drops the device's token: a reactivated device enrolls again.
    public func setDeviceActive(_ id: Int64, _ active: Bool) async throws -> Device {
        return try await changingAuthentication {
            try await pool.withConnection { c in
                let sql = active ? "UPDATE devices SET active = 1 WHERE id = ?" : "UPDATE devices SET active = 0, token_hash = NULL WHERE id = ?"
                guard try c.execute(sql, [.int(id)]).affectedRows == 1,
                      let device = try c.query("SELECT * FROM devices WHERE id = ?", [.int(id)]).first.map(Device.init(row:)) else {
                    throw StoreError.notFound("device \(id)")
                }
                return device
            }
        }
    }
}
