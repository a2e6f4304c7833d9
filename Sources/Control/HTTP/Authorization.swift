import Hummingbird

/// What a route requires. Declared once per operation (`API.operations`); the router, the
/// authorisation check, the OpenAPI document (`x-permission`) and the RBAC matrix test all read it.
public enum Permission: String, Sendable, CaseIterable {
    /// No authentication at all.
    case none = "public"
    /// Any authenticated user (own account, own keys, own MFA).
    case authenticated
    case usersRead = "users:read"
    case usersWrite = "users:write"
    case ousRead = "ous:read"
    case ousWrite = "ous:write"
    case resultsRead = "results:read"
    case resultsWrite = "results:write"
    case auditRead = "audit:read"
    case serverKeysWrite = "server_keys:write"
    case devicesRead = "devices:read"
    /// Deactivate/reactivate devices and manage enrollment secrets.
    case devicesWrite = "devices:write"
    case configsWrite = "configs:write"
    /// Alert rules, their states, transitions and deliveries, within the scope.
    case alertsRead = "alerts:read"
    case alertsWrite = "alerts:write"
    /// Run tests on the server (`/api/v1/tests`, `/api/v1/test/{kind}`): every user.
    case testsRun = "tests:run"
    /// Run load tests: beyond the ordinary per-test limits (probes, rate, duration), up to the
    /// bench limits (`TestLimits`). Administrators.
    case testsBench = "tests:bench"
    /// Reach the target policy's protected ranges (loopback, private, link-local, the server's
    /// own addresses) unless a deny rule refuses them: global administrators, who run the server.
    case targetsInternal = "targets:internal"
    /// Held only by enrolled devices (their own config and heartbeat).
    case device
    /// The exporter routes (`/probe`, `/metrics`): open to callers on this host (`probe_access`),
    /// otherwise a credential holding the permission the route names (`ExporterAccess`). Held by
    /// no role: the route decides.
    case exporter

    /// The permissions each role holds. OU roles hold them only within their OU subtree; the
    /// controllers apply that scope.
    static func granted(to role: Role) -> Set<Permission> {
        let base: Set<Permission> = [.authenticated, .resultsRead, .resultsWrite, .testsRun]
        switch role {
        case .user: return base
        case .ouReporter: return base.union([.usersRead, .ousRead, .devicesRead, .alertsRead])
        case .ouAdmin: return base.union([.usersRead, .ousRead, .devicesRead, .usersWrite, .ousWrite, .devicesWrite, .configsWrite,
                                          .testsBench, .alertsRead, .alertsWrite])
        case .globalReporter: return base.union([.usersRead, .ousRead, .devicesRead, .auditRead, .alertsRead])
        case .globalAdmin: return Set(allCases).subtracting([.device, .exporter])
        }
    }

    /// Server keys (`X-Manager-Key`) are for server-to-server result upload only.
    static let serverKey: Set<Permission> = [.resultsWrite]

    /// An enrolled device uploads its results and reads its config.
    static let enrolledDevice: Set<Permission> = [.device, .resultsWrite]
}

/// Who is calling and how they proved it.
public struct Principal: Sendable {
    public enum Credential: Sendable, Equatable {
        case token(jti: String)
        case apiKey(id: Int64)
        case session(id: String)
        case basic
        case serverKey(id: Int64)
        case device(id: Int64)
    }

    public var user: User?
    public var credential: Credential
    /// The enrolled device, for `.device` credentials.
    public var device: Device?
    /// The organisation units the caller may act on, read with the credential (one trip).
    public var scope: Scope

    /// The key, for server keys (its OU binding decides where it uploads).
    public var serverKey: ServerKeyRecord?

    init(user: User?, credential: Credential, device: Device? = nil, serverKey: ServerKeyRecord? = nil, scope: Scope) {
        self.user = user
        self.credential = credential
        self.device = device
        self.serverKey = serverKey
        self.scope = scope
    }

    var permissions: Set<Permission> {
        if case .serverKey = credential { return Permission.serverKey }
        if case .device = credential { return Permission.enrolledDevice }
        guard let user else { return [] }
        return Permission.granted(to: user.role)
    }

    var displayName: String {
        switch credential {
        case .serverKey(let id): "server-key:\(id)"
        case .device(let id): "device:\(id)"
        default: user.map { "user:\($0.username)" } ?? "anonymous"
        }
    }
}

/// The organisation units a principal may act on: every unit (global roles), an OU and its
/// descendants (OU roles), or none (plain users act only on themselves).
public struct Scope: Sendable, Equatable {
    public var ouIDs: Set<Int64>?   // nil = everything

    public static let everything = Scope(ouIDs: nil)

    public func contains(_ ouID: Int64?) -> Bool {
        guard let ouIDs else { return true }
        guard let ouID else { return false }
        return ouIDs.contains(ouID)
    }

    /// The subtree rooted at `root`.
    static func subtree(of root: Int64, in units: [OrganizationUnit]) -> Set<Int64> {
        var children: [Int64: [Int64]] = [:]
        for unit in units { if let parent = unit.parentID { children[parent, default: []].append(unit.id) } }
        var result: Set<Int64> = []
        var stack = [root]
        while let next = stack.popLast() {
            guard result.insert(next).inserted else { continue }
            stack += children[next] ?? []
        }
        return result
    }

    /// The scope of `user`'s role; `units` is asked only for OU roles. No user (server keys,
    /// devices) reaches no unit.
    static func of(_ user: User?, units: () throws -> [OrganizationUnit]) rethrows -> Scope {
        guard let user else { return Scope(ouIDs: []) }
        switch user.role {
        case .globalAdmin, .globalReporter: return .everything
        case .ouAdmin, .ouReporter:
            guard let ou = user.ouID else { return Scope(ouIDs: []) }
            return Scope(ouIDs: subtree(of: ou, in: try units()))
        case .user: return Scope(ouIDs: [])
        }
    }
}
