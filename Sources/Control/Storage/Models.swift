import Foundation
import SQLDatabase

/// The five roles, ordered by what they may do. An OU role covers its OU and every descendant.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case user
    case ouReporter = "ou_reporter"
    case ouAdmin = "ou_admin"
    case globalReporter = "global_reporter"
    case globalAdmin = "global_admin"

    var rank: Int {
        switch self {
        case .user: 0
        case .ouReporter: 1
        case .ouAdmin: 2
        case .globalReporter: 3
        case .globalAdmin: 4
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }

    public var isGlobal: Bool { self == .globalAdmin || self == .globalReporter }
}

public struct OrganizationUnit: Sendable, Equatable {
    public var id: Int64
    public var parentID: Int64?
    public var name: String
    public var description: String
    public var createdAt: Int64
    public var updatedAt: Int64
}

public struct User: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var email: String?
    public var passwordHash: String
    public var role: Role
    public var ouID: Int64?
    public var active: Bool
    public var mfaEnabled: Bool
    /// AES-GCM sealed TOTP secret (never leaves the server after setup).
    public var mfaSecret: [UInt8]?
    public var mfaPendingSecret: [UInt8]?
    public var mfaLastStep: Int64
    public var failedLogins: Int
    public var lockedUntil: Int64
    /// 0 while the user still has a one-time password (`mustChangePassword`).
    public var passwordChangedAt: Int64
    public var mustChangePassword: Bool { passwordChangedAt == 0 }
    public var lastLoginAt: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64
}

public struct NewUser: Sendable {
    public var username: String
    public var email: String?
    public var passwordHash: String
    public var role: Role
    public var ouID: Int64?
    public var active: Bool = true
    /// A one-time password (the generated first admin's): the user must change it first.
    public var mustChangePassword = false
}

public struct UserChanges: Sendable {
    public var email: String??
    public var role: Role?
    public var ouID: Int64??
    public var active: Bool?
}

public struct APIKeyRecord: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var name: String
    public var prefix: String
    public var createdAt: Int64
    public var lastUsedAt: Int64?
    public var revokedAt: Int64?
}

public struct ServerKeyRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var prefix: String
    /// The OU whose subtree the key uploads to; nil: any OU.
    public var ouID: Int64?
    public var createdAt: Int64
    public var lastUsedAt: Int64?
    public var revokedAt: Int64?
}

extension ServerKeyRecord {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, name: row.string("name") ?? "", prefix: row.string("prefix") ?? "", ouID: row.int("ou_id"),
                  createdAt: row.int("created_at") ?? 0, lastUsedAt: row.int("last_used_at"), revokedAt: row.int("revoked_at"))
    }
}

public struct AuditEntry: Sendable, Equatable {
    public var id: Int64 = 0
    public var at: Int64
    public var actorUserID: Int64?
    public var actor: String
    public var action: String
    public var subject: String
    public var sourceAddress: String
    public var outcome: String
    public var detail: String
}

/// One stored test result: typed metric columns for SQL statistics plus the full JSON document.
public struct ResultRow: Sendable, Equatable {
    public var createdAt: Int64
    public var receivedAt: Int64 = 0
    public var source: String
    public var testType: String
    public var protocolDetail: String = ""
    public var target: String
    public var resolvedAddress: String?
    public var outcome: String
    public var success: Bool
    public var sent: Int64?
    public var received: Int64?
    /// `loss_percent`, `latency_ms`, ...: every stored metric the kinds declare.
    public var metrics = ResultMetrics()
    public var deviceID: Int64?
    public var userID: Int64?
    public var ouID: Int64?
    public var rawJSON: String?

    /// The fixed columns before the metrics.
    static let leadingColumns = ["created_at", "received_at", "source", "test_type", "protocol_detail", "target",
                                 "resolved_address", "outcome", "success", "sent", "received"]
    /// The fixed columns after them.
    static let trailingColumns = ["device_id", "user_id", "ou_id", "raw_json", "series_id"]
    /// Every column a row writes: one per declared stored metric between the fixed ones.
    static let columns = leadingColumns + ResultMetrics.declared.map(\.name) + trailingColumns

    /// Writes this row's values in `columns` order; `receivedAt` is the batch's receipt time and
    /// `seriesID` the row's `result_series` id (`SeriesResolver`).
    func encode(into sink: inout some ResultColumnSink, receivedAt: Int64, seriesID: Int64) {
        sink.int(createdAt); sink.int(receivedAt); sink.text(source)
        sink.text(testType); sink.text(protocolDetail); sink.text(target)
        sink.text(resolvedAddress); sink.text(outcome); sink.int(success ? 1 : 0)
        sink.int(sent); sink.int(received)
        for i in 0..<ResultMetrics.declared.count { sink.double(metrics[i]) }
        sink.int(deviceID); sink.int(userID); sink.int(ouID); sink.text(rawJSON)
        sink.int(seriesID)
    }

    /// Each of `columns`' type, as `encode` writes it.
    static let columnTypes: [BulkPayload.ColumnType] = {
        struct Recorder: ResultColumnSink {
            var types: [BulkPayload.ColumnType] = []
            mutating func int(_ value: Int64?) { types.append(.int) }
            mutating func double(_ value: Double?) { types.append(.double) }
            mutating func text(_ value: String?) { types.append(.text) }
        }
        var recorder = Recorder()
        ResultRow(createdAt: 0, source: "", testType: "", target: "", outcome: "", success: false).encode(into: &recorder, receivedAt: 0, seriesID: 0)
        precondition(recorder.types.count == columns.count, "ResultRow.encode writes \(recorder.types.count) values for \(columns.count) columns")
        return recorder.types
    }()

    /// The columns `init(row:at:)` reads, in its order: all but `series_id`, which a stored
    /// result does not show.
    static let columnNames = columns.filter { $0 != "series_id" }

    /// `p`: where `columnNames` sit in the row (`SQLRow.positions(of:)`, once per query).
    init(row: SQLRow, at p: [Int]) {
        createdAt = row.int(at: p[0]) ?? 0
        receivedAt = row.int(at: p[1]) ?? 0
        source = row.string(at: p[2]) ?? ""
        testType = row.string(at: p[3]) ?? ""
        protocolDetail = row.string(at: p[4]) ?? ""
        target = row.string(at: p[5]) ?? ""
        resolvedAddress = row.string(at: p[6])
        outcome = row.string(at: p[7]) ?? ""
        success = (row.int(at: p[8]) ?? 0) != 0
        sent = row.int(at: p[9]); received = row.int(at: p[10])
        let m = ResultMetrics.declared.count
        for i in 0..<m { metrics[i] = row.double(at: p[11 + i]) }
        deviceID = row.int(at: p[11 + m]); userID = row.int(at: p[12 + m]); ouID = row.int(at: p[13 + m])
        rawJSON = row.string(at: p[14 + m])
    }

    public init(createdAt: Int64, source: String, testType: String, target: String, outcome: String, success: Bool) {
        self.createdAt = createdAt
        self.source = source
        self.testType = testType
        self.target = target
        self.outcome = outcome
        self.success = success
    }
}

/// Where `ResultRow.encode` writes a row's values, one call per column in order.
protocol ResultColumnSink {
    mutating func int(_ value: Int64?)
    mutating func double(_ value: Double?)
    mutating func text(_ value: String?)
}

/// Statement binds, for the multi-row INSERTs.
extension Array: ResultColumnSink where Element == SQLValue {
    mutating func int(_ value: Int64?) { append(.optional(value)) }
    mutating func double(_ value: Double?) { append(.optional(value)) }
    mutating func text(_ value: String?) { append(.optional(value)) }
}

public struct StoredResult: Sendable {
    public var id: Int64
    public var row: ResultRow
}

/// Which results a query may see and which it asks for.
public struct ResultFilter: Sendable {
    /// nil = every OU (global roles); otherwise results of these OUs only.
    public var ouIDs: [Int64]?
    /// Restricts to one user's own results (role `user`).
    public var userID: Int64?
    public var deviceID: Int64?
    public var testType: String?
    public var target: String?
    public var since: Int64?
    public var until: Int64?
    /// Cursor: only results with id below this one (newest first).
    public var beforeID: Int64?
    public var limit: Int = 50
    public init() {}
}
