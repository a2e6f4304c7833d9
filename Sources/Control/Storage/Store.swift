import Engine
import Foundation
import Synchronization
import SQLDatabase

/// Where the control plane keeps its data.
public enum StoreBackend: Sendable, Equatable {
    /// The zero-setup default: a SQLite file (WAL) next to the server.
    case embedded(path: String)
    /// MariaDB through Connector/C, for production and Galera clusters.
    case mariadb(MariaDBConfiguration)
}

public enum StoreError: Error, Equatable, Sendable {
    case notFound(String)
    case conflict(String)
    case invalid(field: String, message: String)
    /// The field names something that does not exist, or a place the row cannot go.
    case reference(field: String, message: String)
}

/// The storage contract of the control plane. One implementation runs on either backend: the SQL
/// is portable (see `Schema`), the blocking drivers sit behind `SQLConnection` on their own threads,
/// and backend-specific fast paths (bulk array binding on MariaDB) live in `ResultWriter`.
/// The same test suite runs against both backends.
public final class Store: Sendable {
    public let backend: StoreBackend
    let pool: DatabasePool
    /// Advanced after every committed write that an authentication decision depends on (users,
    /// their tokens, keys and sessions, devices, units); `CredentialCache` serves only entries read
    /// under the current value.
    private let authenticationEpochCounter = Atomic<UInt64>(0)
    /// Advanced after every committed change to `test_results` made here (the writer's commits,
    /// retention's deletes); `ResultPageCache` serves only pages rendered under the current value.
    private let resultsGenerationCounter = Atomic<UInt64>(0)

    public var dialect: SQLDialect { pool.dialect }

    private init(backend: StoreBackend, pool: DatabasePool) {
        self.backend = backend
        self.pool = pool
    }

    /// Opens the store and applies pending migrations.
    public static func open(_ backend: StoreBackend, connections: Int = 4, limits: DatabasePool.Limits = .init()) async throws -> Store {
        try await open(backend, connections: connections, limits: limits, through: Schema.latestVersion)
    }

    /// Opens the store with migrations applied up to `version` (tests of a migration start older).
    static func open(_ backend: StoreBackend, connections: Int, limits: DatabasePool.Limits = .init(), through version: Int) async throws -> Store {
        let pool: DatabasePool
        switch backend {
        case .embedded(let path):
            // SQLite serialises writers anyway; readers run in parallel under WAL.
            pool = DatabasePool(dialect: .sqlite, size: connections, name: "sqlite", limits: limits) { try SQLiteConnection(path: path) }
        case .mariadb(let configuration):
            // Create the database once (connecting without selecting it), then open the pool.
            let bootstrap = DatabasePool(dialect: .mariadb, size: 1, name: "mariadb-setup") {
                try MariaDBConnection(configuration, createDatabase: true)
            }
            defer { bootstrap.close() }
            _ = try await bootstrap.withConnection { _ in true }
            pool = DatabasePool(dialect: .mariadb, size: connections, name: "mariadb", limits: limits) { try MariaDBConnection(configuration) }
        }
        do {
            try await pool.withConnection { try Schema.migrate($0, through: version) }
        } catch {
            pool.close()
            throw error
        }
        return Store(backend: backend, pool: pool)
    }

    /// A new connection of this backend, for a component that owns its own thread (the result writer).
    func makeConnection() throws -> any SQLConnection {
        switch backend {
        case .embedded(let path): try SQLiteConnection(path: path)
        case .mariadb(let configuration): try MariaDBConnection(configuration)
        }
    }

    public func close() { pool.close() }

    /// See `authenticationEpochCounter`.
    var authenticationEpoch: UInt64 { authenticationEpochCounter.load(ordering: .acquiring) }

    /// Runs a write that changes who a credential proves to be (or whether it proves anything),
    /// then advances the authentication epoch, whether the write succeeded or not.
    @discardableResult
    func changingAuthentication<T>(_ write: () async throws -> T) async rethrows -> T {
        defer { authenticationChanged() }
        return try await write()
    }

    /// Advances the authentication epoch (after a committed change; see `changingAuthentication`).
    func authenticationChanged() { authenticationEpochCounter.add(1, ordering: .releasing) }

    /// See `resultsGenerationCounter`.
    var resultsGeneration: UInt64 { resultsGenerationCounter.load(ordering: .acquiring) }

    /// Advances the results generation: call after a change to `test_results` has committed, and
    /// before anyone is told it has (a client that saw its upload acknowledged must not be served
    /// a page rendered before it).
    func resultsChanged() { resultsGenerationCounter.add(1, ordering: .releasing) }

    public func ping() async -> Bool {
        (try? await pool.withConnection { connection in
            connection.isAlive() ? try connection.scalar("SELECT 1") == 1 : false
        }) ?? false
    }

    public func schemaVersion() async throws -> Int {
        Int(try await pool.withConnection { try $0.scalar("SELECT MAX(version) FROM schema_migrations") ?? 0 })
    }

    /// `%search%` for `LIKE ? ESCAPE '!'`: a backslash escape would mean different things to
    /// SQLite and MariaDB.
    static func likePattern(_ search: String) -> String {
        "%" + search.replacingOccurrences(of: "!", with: "!!").replacingOccurrences(of: "%", with: "!%").replacingOccurrences(of: "_", with: "!_") + "%"
    }

    static func translate(_ error: any Error, conflict: String) -> any Error {
        if let error = error as? SQLError {
            switch error.kind {
            case .uniqueViolation: return StoreError.conflict(conflict)
            case .foreignKeyViolation: return StoreError.reference(field: "reference", message: "refers to something that does not exist or is still in use")
            default: break
            }
        }
        return error
    }
}

// MARK: Organisation units

extension OrganizationUnit {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, parentID: row.int("parent_id"), name: row.string("name") ?? "",
                  description: row.string("description") ?? "", createdAt: row.int("created_at") ?? 0,
                  updatedAt: row.int("updated_at") ?? 0)
    }
}

extension Store {
    public func createOU(name: String, description: String, parentID: Int64?) async throws -> OrganizationUnit {
        return try await changingAuthentication {
            let now = WallClock.nowMillis()
            do {
                return try await pool.transaction { c in
                    if let parentID, try c.scalar("SELECT COUNT(*) FROM organization_units WHERE id = ?", [.int(parentID)]) == 0 {
                        throw StoreError.reference(field: "parent_id", message: "organisation unit \(parentID) does not exist")
                    }
                    let r = try c.execute("INSERT INTO organization_units (parent_id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                                          [.optional(parentID), .text(name), .text(description), .int(now), .int(now)])
                    return OrganizationUnit(id: r.lastInsertID, parentID: parentID, name: name, description: description, createdAt: now, updatedAt: now)
                }
            } catch { throw Self.translate(error, conflict: "organisation unit exists") }
        }
    }

    public func ou(_ id: Int64) async throws -> OrganizationUnit? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM organization_units WHERE id = ?", [.int(id)]).first.map(OrganizationUnit.init(row:))
        }
    }

    public func listOUs() async throws -> [OrganizationUnit] {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM organization_units ORDER BY id").map(OrganizationUnit.init(row:))
        }
    }

    /// Moves or renames a unit; refuses to make a unit its own ancestor. A move first takes the
    /// tree's lock (the `ou_tree` row), so two concurrent moves (A under B, B under A) run one
    /// after the other and the second sees the first; the tree is then read with a locking read
    /// (the latest committed rows, not the transaction's snapshot) and walked at most once round.
    public func updateOU(_ id: Int64, name: String?, description: String?, parentID: Int64??) async throws -> OrganizationUnit {
        return try await changingAuthentication {
            try await pool.transaction { c in
                if parentID != nil { try c.execute("UPDATE ou_tree SET version = version + 1 WHERE id = 1") }
                guard var unit = try c.query("SELECT * FROM organization_units WHERE id = ?", [.int(id)]).first.map(OrganizationUnit.init(row:)) else {
                    throw StoreError.notFound("organisation unit \(id)")
                }
                if let name { unit.name = name }
                if let description { unit.description = description }
                if let parentID {
                    if let newParent = parentID {
                        let all = try c.query("SELECT id, parent_id FROM organization_units" + (c.dialect == .mariadb ? " FOR UPDATE" : ""))
                        var parentOf: [Int64: Int64] = [:]
                        for row in all { if let p = row.int("parent_id") { parentOf[row.int("id")!] = p } }
                        guard all.contains(where: { $0.int("id") == newParent }) else {
                            throw StoreError.reference(field: "parent_id", message: "organisation unit \(newParent) does not exist")
                        }
                        var cursor: Int64? = newParent
                        var steps = 0
                        while let current = cursor {
                            if current == id { throw StoreError.reference(field: "parent_id", message: "a unit cannot be moved under itself or its descendants") }
                            steps += 1
                            if steps > all.count { throw StoreError.conflict("the unit tree above \(newParent) has a cycle") }
                            cursor = parentOf[current]
                        }
                    }
                    unit.parentID = parentID
                }
                unit.updatedAt = WallClock.nowMillis()
                try c.execute("UPDATE organization_units SET name = ?, description = ?, parent_id = ?, updated_at = ? WHERE id = ?",
                              [.text(unit.name), .text(unit.description), .optional(unit.parentID), .int(unit.updatedAt), .int(id)])
                return unit
            }
        }
    }

    /// Deletes an empty unit: no child units, users, devices or enrollment secrets.
    public func deleteOU(_ id: Int64) async throws {
        try await changingAuthentication {
            try await pool.transaction { c in
                guard try c.scalar("SELECT COUNT(*) FROM organization_units WHERE id = ?", [.int(id)]) == 1 else {
                    throw StoreError.notFound("organisation unit \(id)")
                }
                for (table, what) in [("organization_units WHERE parent_id", "child units"), ("users WHERE ou_id", "users"),
                                      ("devices WHERE ou_id", "devices"), ("enrollment_secrets WHERE revoked_at IS NULL AND ou_id", "enrollment secrets")] {
                    if try c.scalar("SELECT COUNT(*) FROM \(table) = ?", [.int(id)]) ?? 0 > 0 {
                        throw StoreError.conflict("organisation unit \(id) still has \(what)")
                    }
                }
                try c.execute("DELETE FROM enrollment_secrets WHERE ou_id = ?", [.int(id)])
                try c.execute("DELETE FROM organization_units WHERE id = ?", [.int(id)])
            }
        }
    }
}

// MARK: Users

extension User {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, username: row.string("username") ?? "", email: row.string("email"),
                  passwordHash: row.string("password_hash") ?? "", role: Role(rawValue: row.string("role") ?? "") ?? .user,
                  ouID: row.int("ou_id"), active: row.bool("active"), mfaEnabled: row.bool("mfa_enabled"),
                  mfaSecret: row.bytes("mfa_secret"), mfaPendingSecret: row.bytes("mfa_pending_secret"),
                  mfaLastStep: row.int("mfa_last_step") ?? 0, failedLogins: Int(row.int("failed_logins") ?? 0),
                  lockedUntil: row.int("locked_until") ?? 0, passwordChangedAt: row.int("password_changed_at") ?? 0,
                  lastLoginAt: row.int("last_login_at"), createdAt: row.int("created_at") ?? 0, updatedAt: row.int("updated_at") ?? 0)
    }
}

/// What a password change, a reset, a revocation or a deactivation ended.
public struct RevokedCredentials: Sendable, Equatable {
    public var tokens: Int64
    public var sessions: Int64
    public var apiKeys: Int64

    /// "3 tokens, 1 session and 2 API keys"
    public var summary: String {
        func count(_ n: Int64, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }
        return "\(count(tokens, "token", "tokens")), \(count(sessions, "session", "sessions")) and \(count(apiKeys, "API key", "API keys"))"
    }
}

public struct UserQuery: Sendable {
    public var ouIDs: [Int64]?
    public var search: String?
    public var role: Role?
    public var limit = 50
    public var offset = 0
    public init() {}
}

extension Store {
    public func createUser(_ new: NewUser) async throws -> User {
        let now = WallClock.nowMillis()
        do {
            let id = try await pool.withConnection { c in
                try c.execute("""
                    INSERT INTO users (username, email, password_hash, role, ou_id, active, password_changed_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.text(new.username), .optional(new.email), .text(new.passwordHash), .text(new.role.rawValue),
                          .optional(new.ouID), .bool(new.active), .int(new.mustChangePassword ? 0 : now), .int(now), .int(now)]).lastInsertID
            }
            guard let user = try await user(id: id) else { throw StoreError.notFound("user \(id)") }
            return user
        } catch { throw Self.translate(error, conflict: "a user with this username or email exists") }
    }

    public func user(id: Int64) async throws -> User? {
        try await pool.withConnection { c in try Self.user(id, on: c) }
    }

    /// One user by id, on a connection a caller already holds.
    static func user(_ id: Int64, on c: any SQLConnection) throws -> User? {
        try c.query("SELECT * FROM users WHERE id = ?", [.int(id)]).first.map(User.init(row:))
    }

    public func user(username: String) async throws -> User? {
        try await pool.withConnection { c in try c.query("SELECT * FROM users WHERE username = ?", [.text(username)]).first.map(User.init(row:)) }
    }

    public func countUsers() async throws -> Int64 {
        try await pool.withConnection { c in try c.scalar("SELECT COUNT(*) FROM users") ?? 0 }
    }

    public func listUsers(_ query: UserQuery) async throws -> (users: [User], total: Int64) {
        try await pool.withConnection { c in
            var clauses: [String] = []
            var binds: [SQLValue] = []
            if let (sql, values) = Self.scopeCondition(query.ouIDs) { clauses.append(sql); binds += values }
            if let search = query.search, !search.isEmpty {
                let pattern = Store.likePattern(search)
                clauses.append("(username LIKE ? ESCAPE '!' OR email LIKE ? ESCAPE '!')")
                binds += [.text(pattern), .text(pattern)]
            }
            if let role = query.role { clauses.append("role = ?"); binds.append(.text(role.rawValue)) }
            let filter = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
            let total = try c.scalar("SELECT COUNT(*) FROM users" + filter, binds) ?? 0
            let users = try c.query("SELECT * FROM users\(filter) ORDER BY id LIMIT ? OFFSET ?",
                                    binds + [.int(Int64(query.limit)), .int(Int64(query.offset))]).map(User.init(row:))
            return (users, total)
        }
    }

    public func updateUser(_ id: Int64, _ changes: UserChanges) async throws -> User {
        return try await changingAuthentication {
            do {
                return try await pool.transaction { c in
                    guard var user = try Self.user(id, on: c) else {
                        throw StoreError.notFound("user \(id)")
                    }
                    if let email = changes.email { user.email = email }
                    if let role = changes.role { user.role = role }
                    if let ouID = changes.ouID { user.ouID = ouID }
                    if let active = changes.active { user.active = active }
                    user.updatedAt = WallClock.nowMillis()
                    try c.execute("UPDATE users SET email = ?, role = ?, ou_id = ?, active = ?, updated_at = ? WHERE id = ?",
                                  [.optional(user.email), .text(user.role.rawValue), .optional(user.ouID), .bool(user.active), .int(user.updatedAt), .int(id)])
                    if !user.active { _ = try Self.revokeCredentials(userID: id, on: c) }
                    return user
                }
            } catch { throw Self.translate(error, conflict: "a user with this email exists") }
        }
    }

    public func deleteUser(_ id: Int64) async throws {
        try await changingAuthentication {
            try await pool.transaction { c in
                guard try c.execute("DELETE FROM users WHERE id = ?", [.int(id)]).affectedRows == 1 else {
                    throw StoreError.notFound("user \(id)")
                }
            }
        }
    }

    /// Sets a new password hash and revokes every token and session the user had.
    /// Sets a new password hash and revokes every token, session and API key the user had.
    @discardableResult
    public func setPassword(_ id: Int64, hash: String) async throws -> RevokedCredentials {
        try await changingAuthentication {
            try await pool.transaction { c in
                let now = WallClock.nowMillis()
                guard try c.execute("UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, locked_until = 0, updated_at = ? WHERE id = ?",
                                    [.text(hash), .int(now), .int(now), .int(id)]).affectedRows == 1 else {
                    throw StoreError.notFound("user \(id)")
                }
                return try Self.revokeCredentials(userID: id, on: c)
            }
        }
    }

    /// Revokes every live token, session and API key of a user, on a connection in a transaction.
    static func revokeCredentials(userID: Int64, on c: any SQLConnection) throws -> RevokedCredentials {
        RevokedCredentials(
            tokens: try c.execute("UPDATE issued_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0", [.int(userID)]).affectedRows,
            sessions: try c.execute("UPDATE web_sessions SET revoked = 1 WHERE user_id = ? AND revoked = 0", [.int(userID)]).affectedRows,
            apiKeys: try c.execute("UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                                   [.int(WallClock.nowMillis()), .int(userID)]).affectedRows)
    }

    /// Counts a failed login; `lockedUntil` maps the new count to the lock expiry (the caller's policy).
    public func recordLoginFailure(_ id: Int64, lockedUntil: @escaping @Sendable (Int) -> Int64) async throws {
        try await pool.transaction { c in
            let failures = Int(try c.scalar("SELECT failed_logins FROM users WHERE id = ?", [.int(id)]) ?? 0) + 1
            try c.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                          [.int(Int64(failures)), .int(lockedUntil(failures)), .int(id)])
        }
    }

    /// Not an authentication change: nothing a credential check reads is touched (a remembered
    /// caller's `last_login_at` may lag by `auth_cache_ttl`), so logins do not empty the cache.
    public func recordLoginSuccess(_ id: Int64) async throws {
        try await pool.withConnection { c in
            try c.execute("UPDATE users SET failed_logins = 0, locked_until = 0, last_login_at = ? WHERE id = ?", [.int(WallClock.nowMillis()), .int(id)])
        }
    }

    public func setPendingMFASecret(_ id: Int64, sealed: [UInt8]) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in
                try c.execute("UPDATE users SET mfa_pending_secret = ?, updated_at = ? WHERE id = ?", [.blob(sealed), .int(WallClock.nowMillis()), .int(id)])
            }
        }
    }

    /// Moves the pending secret into place once a code has been verified against it.
    public func enableMFA(_ id: Int64, step: Int64) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in
                try c.execute("UPDATE users SET mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL, mfa_enabled = 1, mfa_last_step = ?, updated_at = ? WHERE id = ? AND mfa_pending_secret IS NOT NULL",
                              [.int(step), .int(WallClock.nowMillis()), .int(id)])
            }
        }
    }

    public func disableMFA(_ id: Int64) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in
                try c.execute("UPDATE users SET mfa_secret = NULL, mfa_pending_secret = NULL, mfa_enabled = 0, mfa_last_step = 0, updated_at = ? WHERE id = ?",
                              [.int(WallClock.nowMillis()), .int(id)])
            }
        }
    }

    /// Records that TOTP step `step` was used; false when it (or a later one) was used already,
    /// which is how a replayed code is refused even by two servers at once.
    public func consumeTOTPStep(_ id: Int64, step: Int64) async throws -> Bool {
        try await pool.withConnection { c in
            try c.execute("UPDATE users SET mfa_last_step = ? WHERE id = ? AND mfa_last_step < ?", [.int(step), .int(id), .int(step)]).affectedRows == 1
        }
    }
}

// MARK: Issued tokens

extension Store {
    public func recordToken(jti: String, userID: Int64, issuedAt: Int64, expiresAt: Int64) async throws {
        try await pool.withConnection { c in
            try c.execute("INSERT INTO issued_tokens (jti, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                          [.text(jti), .int(userID), .int(issuedAt), .int(expiresAt)])
        }
    }

    /// True while the token is recorded, unrevoked and unexpired.
    public func tokenIsActive(jti: String, now: Int64) async throws -> Bool {
        try await pool.withConnection { c in try Self.tokenIsActive(c, jti: jti, now: now) }
    }

    /// A bearer token's check in one trip to the database thread: whether it is active, and
    /// (when it is) its user and the units that user's role reaches.
    public func tokenUser(jti: String, userID: Int64, now: Int64) async throws -> (active: Bool, user: User?, scope: Scope) {
        // A row means the token is active and was issued to `userID`: the user is the one the
        // store recorded for this jti, never the one the token's `sub` names on its own (a
        // token signed with a known key must not choose its user). The user columns are NULL
        // when the user is gone.
        try await pool.withConnection { c in
            guard let row = try c.query("SELECT u.* FROM issued_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.jti = ? AND t.user_id = ? AND t.revoked = 0 AND t.expires_at > ?",
                                        [.text(jti), .int(userID), .int(now)]).first else { return (false, nil, Scope(ouIDs: [])) }
            let user = row.int("id") == nil ? nil : User(row: row)
            return (true, user, try Self.scope(of: user, on: c))
        }
    }

    /// The units `user`'s role reaches.
    public func scope(of user: User) async throws -> Scope {
        try await pool.withConnection { c in try Self.scope(of: user, on: c) }
    }

    /// The units `user`'s role reaches, on a connection the caller holds (the credential check's
    /// own trip): the unit table is read only for OU roles.
    static func scope(of user: User?, on c: any SQLConnection) throws -> Scope {
        try Scope.of(user) { try c.query("SELECT * FROM organization_units ORDER BY id").map(OrganizationUnit.init(row:)) }
    }

    private static func tokenIsActive(_ c: SQLConnection, jti: String, now: Int64) throws -> Bool {
        try c.scalar("SELECT COUNT(*) FROM issued_tokens WHERE jti = ? AND revoked = 0 AND expires_at > ?", [.text(jti), .int(now)]) == 1
    }

    public func revokeToken(jti: String) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in try c.execute("UPDATE issued_tokens SET revoked = 1 WHERE jti = ?", [.text(jti)]) }
        }
    }

    /// Revokes every token, session and API key of a user.
    @discardableResult
    public func revokeTokens(userID: Int64) async throws -> RevokedCredentials {
        try await changingAuthentication {
            try await pool.transaction { c in try Self.revokeCredentials(userID: userID, on: c) }
        }
    }
}

// MARK: API keys and server keys

extension APIKeyRecord {
    init(row: SQLRow) {
        self.init(id: row.int("id") ?? 0, userID: row.int("user_id") ?? 0, name: row.string("name") ?? "",
                  prefix: row.string("prefix") ?? "", createdAt: row.int("created_at") ?? 0,
                  lastUsedAt: row.int("last_used_at"), revokedAt: row.int("revoked_at"))
    }
}

extension Store {
    public func createAPIKey(userID: Int64, name: String, prefix: String, hash: String) async throws -> APIKeyRecord {
        let now = WallClock.nowMillis()
        let id = try await pool.withConnection { c in
            try c.execute("INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                          [.int(userID), .text(name), .text(prefix), .text(hash), .int(now)]).lastInsertID
        }
        return APIKeyRecord(id: id, userID: userID, name: name, prefix: prefix, createdAt: now)
    }

    public func apiKeys(userID: Int64) async throws -> [APIKeyRecord] {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM api_keys WHERE user_id = ? ORDER BY id", [.int(userID)]).map(APIKeyRecord.init(row:))
        }
    }

    /// The live key with this hash, its owner and the owner's scope; marks it used.
    public func authenticateAPIKey(hash: String) async throws -> (key: APIKeyRecord, user: User, scope: Scope)? {
        try await pool.withConnection { c in
            guard let key = try c.query("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", [.text(hash)]).first.map(APIKeyRecord.init(row:)),
                  let user = try Self.user(key.userID, on: c) else { return nil }
            let now = WallClock.nowMillis()
            // Coarse last-used tracking: one write per key per minute, not per request.
            if (key.lastUsedAt ?? 0) < now - 60_000 {
                try c.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [.int(now), .int(key.id)])
            }
            return (key, user, try Self.scope(of: user, on: c))
        }
    }

    public func revokeAPIKey(id: Int64, userID: Int64) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in
                guard try c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                                    [.int(WallClock.nowMillis()), .int(id), .int(userID)]).affectedRows == 1 else {
                    throw StoreError.notFound("API key \(id)")
                }
            }
        }
    }

    /// A server key, bound to `ouID`'s subtree when given (the unit must exist).
    public func createServerKey(name: String, prefix: String, hash: String, ouID: Int64? = nil) async throws -> ServerKeyRecord {
        let now = WallClock.nowMillis()
        let id = try await pool.withConnection { c in
            if let ouID, try c.scalar("SELECT COUNT(*) FROM organization_units WHERE id = ?", [.int(ouID)]) != 1 {
                throw StoreError.reference(field: "ou_id", message: "organisation unit \(ouID) does not exist")
            }
            return try c.execute("INSERT INTO server_keys (name, prefix, key_hash, ou_id, created_at) VALUES (?, ?, ?, ?, ?)",
                                 [.text(name), .text(prefix), .text(hash), .optional(ouID), .int(now)]).lastInsertID
        }
        return ServerKeyRecord(id: id, name: name, prefix: prefix, ouID: ouID, createdAt: now)
    }

    public func serverKeys() async throws -> [ServerKeyRecord] {
        try await pool.withConnection { c in try c.query("SELECT * FROM server_keys ORDER BY id").map(ServerKeyRecord.init(row:)) }
    }

    public func revokeServerKey(id: Int64) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in
                guard try c.execute("UPDATE server_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                    [.int(WallClock.nowMillis()), .int(id)]).affectedRows == 1 else {
                    throw StoreError.notFound("server key \(id)")
                }
            }
        }
    }

    /// The live key with this hash and the units it reaches (its OU's subtree, or all), in one trip.
    public func authenticateServerKey(hash: String) async throws -> (key: ServerKeyRecord, scope: Scope)? {
        try await pool.withConnection { c in
            guard let row = try c.query("SELECT * FROM server_keys WHERE key_hash = ? AND revoked_at IS NULL", [.text(hash)]).first else { return nil }
            let key = ServerKeyRecord(row: row)
            let now = WallClock.nowMillis()
            if (key.lastUsedAt ?? 0) < now - 60_000 {
                try c.execute("UPDATE server_keys SET last_used_at = ? WHERE id = ?", [.int(now), .int(key.id)])
            }
            guard let ouID = key.ouID else { return (key, .everything) }
            let units = try c.query("SELECT * FROM organization_units ORDER BY id").map(OrganizationUnit.init(row:))
            return (key, Scope(ouIDs: Scope.subtree(of: ouID, in: units)))
        }
    }

    /// Which of `ouIDs` exist, and the OU of each of `deviceIDs` that exists: what an upload
    /// naming them refers to.
    public func references(ouIDs: Set<Int64>, deviceIDs: Set<Int64>) async throws -> (ous: Set<Int64>, deviceOUs: [Int64: Int64]) {
        if ouIDs.isEmpty && deviceIDs.isEmpty { return ([], [:]) }
        return try await pool.withConnection { c in
            var ous: Set<Int64> = [], devices: [Int64: Int64] = [:]
            if !ouIDs.isEmpty {
                let marks = Array(repeating: "?", count: ouIDs.count).joined(separator: ",")
                for row in try c.query("SELECT id FROM organization_units WHERE id IN (\(marks))", ouIDs.map { .int($0) }) {
                    if let id = row.int("id") { ous.insert(id) }
                }
            }
            if !deviceIDs.isEmpty {
                let marks = Array(repeating: "?", count: deviceIDs.count).joined(separator: ",")
                for row in try c.query("SELECT id, ou_id FROM devices WHERE id IN (\(marks))", deviceIDs.map { .int($0) }) {
                    if let id = row.int("id"), let ou = row.int("ou_id") { devices[id] = ou }
                }
            }
            return (ous, devices)
        }
    }
}

// MARK: Audit log

extension Store {
    public func audit(_ entry: AuditEntry) async throws {
        try await pool.withConnection { c in
            try c.execute("INSERT INTO audit_log (at, actor_user_id, actor, action, subject, source_address, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [.int(entry.at), .optional(entry.actorUserID), .text(entry.actor), .text(entry.action), .text(entry.subject),
                           .text(entry.sourceAddress), .text(entry.outcome), .text(String(entry.detail.prefix(1024)))])
        }
    }

    public func auditEntries(limit: Int, beforeID: Int64? = nil) async throws -> [AuditEntry] {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", [.int(beforeID ?? Int64.max), .int(Int64(limit))]).map { row in
                AuditEntry(id: row.int("id") ?? 0, at: row.int("at") ?? 0, actorUserID: row.int("actor_user_id"), actor: row.string("actor") ?? "",
                           action: row.string("action") ?? "", subject: row.string("subject") ?? "", sourceAddress: row.string("source_address") ?? "",
                           outcome: row.string("outcome") ?? "", detail: row.string("detail") ?? "")
            }
        }
    }
}

// MARK: Results (reads; writes go through ResultWriter)

extension Store {
    public func results(_ filter: ResultFilter) async throws -> [StoredResult] {
        try await pool.withConnection { c in
            guard let (prefix, filterSQL, binds) = try Self.resultWhere(filter, on: c) else { return [] }
            let rows = try c.query("\(prefix)SELECT * FROM test_results\(filterSQL) ORDER BY id DESC LIMIT ?",
                                   binds + [.int(Int64(filter.limit))])
            guard let first = rows.first else { return [] }
            let id = first.positions(of: ["id"])[0], columns = first.positions(of: ResultRow.columnNames)
            return rows.map { StoredResult(id: $0.int(at: id) ?? 0, row: ResultRow(row: $0, at: columns)) }
        }
    }

    /// Where a listing's columns sit in the query's rows, found once per query.
    public struct ResultColumns: Sendable {
        public let id: Int
        /// `ResultRow.columnNames`, in that order.
        public let row: [Int]
    }

    /// The results `filter` selects, newest first, written by `write` as a JSON array on the
    /// database thread straight from the driver's rows (no row objects: a listing's time went to
    /// materialising ~40 columns a row). Returns the array's text, its length and the last id.
    /// The page ends early, after the row that takes it past `maxBytes` (`full` is then true, and
    /// the caller's cursor continues from `lastID`): a listing of large documents stays bounded.
    public func resultArray(_ filter: ResultFilter, capacity: Int, maxBytes: Int = .max,
                            write: @escaping @Sendable (any SQLCursor, ResultColumns, inout JSONBuffer) -> Int64) async throws
        -> (json: [UInt8], count: Int, lastID: Int64?, full: Bool) {
        struct PageFull: Error {}
        return try await pool.withHeavyConnection { c in
            var w = JSONBuffer(capacity: min(capacity, maxBytes))
            w.beginArray()
            var count = 0
            var lastID: Int64?
            var full = false
            if let (prefix, filterSQL, binds) = try Self.resultWhere(filter, on: c) {
                var columns: ResultColumns?
                do {
                    try c.scan("\(prefix)SELECT * FROM test_results\(filterSQL) ORDER BY id DESC LIMIT ?", binds + [.int(Int64(filter.limit))],
                               columns: { names in
                                   let index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
                                   let find = { (name: String) throws -> Int in
                                       guard let at = index[name] else { throw SQLError(kind: .other, code: 0, message: "no column \(name) in test_results") }
                                       return at
                                   }
                                   columns = ResultColumns(id: try find("id"), row: try ResultRow.columnNames.map(find))
                               },
                               row: { cursor in
                                   guard let columns else { return }
                                   lastID = write(cursor, columns, &w)
                                   count += 1
                                   if w.count >= maxBytes { throw PageFull() }
                               })
                } catch is PageFull {
                    full = true
                }
            }
            w.endArray()
            return (w.bytes, count, lastID, full)
        }
    }

    /// Deletes tokens and sessions that expired before `cutoff` (they authenticate nothing; kept
    /// until then so a replayed one is still recognised as expired, not unknown). Returns how many.
    public func deleteExpiredCredentials(before cutoff: Int64) async throws -> (tokens: Int64, sessions: Int64) {
        try await pool.withConnection { c in
            let tokens = try c.execute("DELETE FROM issued_tokens WHERE expires_at < ?", [.int(cutoff)]).affectedRows
            let sessions = try c.execute("DELETE FROM web_sessions WHERE expires_at < ?", [.int(cutoff)]).affectedRows
            return (tokens, sessions)
        }
    }

    /// Deletes audit entries older than `cutoff` (milliseconds), in chunks. Returns how many.
    public func deleteAuditEntries(olderThan cutoff: Int64, chunk: Int = 5_000) async throws -> Int64 {
        var total: Int64 = 0
        while true {
            let deleted = try await pool.withConnection { c -> Int64 in
                guard let maxID = try c.scalar("SELECT MAX(id) FROM (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?) AS oldest",
                                               [.int(cutoff), .int(Int64(chunk))]) else { return 0 }
                return try c.execute("DELETE FROM audit_log WHERE id <= ? AND at < ?", [.int(maxID), .int(cutoff)]).affectedRows
            }
            total += deleted
            if deleted < chunk { return total }
        }
    }

    public func countResults() async throws -> Int64 {
        try await pool.withConnection { c in try c.scalar("SELECT COUNT(*) FROM test_results") ?? 0 }
    }

    /// Deletes results older than `cutoff` in chunks of `chunk` rows so no single statement holds
    /// locks for long; returns how many were deleted.
    public func deleteResults(olderThan cutoff: Int64, chunk: Int = 5_000,
                              while proceeding: () -> Bool = { true }) async throws -> Int64 {
        var total: Int64 = 0
        while proceeding() {
            let deleted = try await pool.withConnection { c -> Int64 in
                guard let maxID = try c.scalar("SELECT MAX(id) FROM (SELECT id FROM test_results WHERE created_at < ? ORDER BY id LIMIT ?) AS oldest",
                                               [.int(cutoff), .int(Int64(chunk))]) else { return 0 }
                return try c.execute("DELETE FROM test_results WHERE id <= ? AND created_at < ?", [.int(maxID), .int(cutoff)]).affectedRows
            }
            if deleted > 0 { resultsChanged() }
            total += deleted
            if deleted < chunk { return total }
        }
        return total
    }
}

// MARK: Web sessions

public struct WebSession: Sendable {
    public var userID: Int64
    public var csrfHash: String
    public var expiresAt: Int64
}

extension Store {
    public func createSession(idHash: String, userID: Int64, csrfHash: String, sourceAddress: String, expiresAt: Int64) async throws {
        try await pool.withConnection { c in
            try c.execute("INSERT INTO web_sessions (id, user_id, csrf_hash, source_address, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                          [.text(idHash), .int(userID), .text(csrfHash), .text(sourceAddress), .int(WallClock.nowMillis()), .int(expiresAt)])
        }
    }

    public func activeSession(idHash: String, now: Int64) async throws -> WebSession? {
        try await pool.withConnection { c in try Self.activeSession(idHash: idHash, now: now, on: c) }
    }

    private static func activeSession(idHash: String, now: Int64, on c: any SQLConnection) throws -> WebSession? {
        try c.query("SELECT user_id, csrf_hash, expires_at FROM web_sessions WHERE id = ? AND revoked = 0 AND expires_at > ?",
                    [.text(idHash), .int(now)]).first.map {
            WebSession(userID: $0.int("user_id") ?? 0, csrfHash: $0.string("csrf_hash") ?? "", expiresAt: $0.int("expires_at") ?? 0)
        }
    }

    /// A cookie session's check in one trip: the live session, its user and the user's scope.
    public func sessionUser(idHash: String, now: Int64) async throws -> (session: WebSession, user: User?, scope: Scope)? {
        try await pool.withConnection { c in
            guard let session = try Self.activeSession(idHash: idHash, now: now, on: c) else { return nil }
            let user = try Self.user(session.userID, on: c)
            return (session, user, try Self.scope(of: user, on: c))
        }
    }

    public func revokeSession(idHash: String) async throws {
        try await changingAuthentication {
            try await pool.withConnection { c in try c.execute("UPDATE web_sessions SET revoked = 1 WHERE id = ?", [.text(idHash)]) }
        }
    }
}
