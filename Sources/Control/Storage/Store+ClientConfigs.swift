import Foundation
import SQLDatabase

/// A client configuration document for an OU, or the default one (`ouID == nil`).
public struct ClientConfigRecord: Sendable, Equatable {
    public var ouID: Int64?
    public var name: String
    public var configJSON: String
    public var updatedBy: Int64?
    public var updatedAt: Int64
}

extension ClientConfigRecord {
    init(row: SQLRow) {
        self.init(ouID: row.int("ou_id"), name: row.string("name") ?? "", configJSON: row.string("config_json") ?? "{}",
                  updatedBy: row.int("updated_by"), updatedAt: row.int("updated_at") ?? 0)
    }

    /// `client_configs.scope_key`: the OU id, or 0 for the default (a UNIQUE column cannot hold
    /// one NULL on both stores alike).
    static func scopeKey(_ ouID: Int64?) -> Int64 { ouID ?? 0 }
}

// MARK: Client configurations

extension Store {
    public func clientConfig(ouID: Int64?) async throws -> ClientConfigRecord? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM client_configs WHERE scope_key = ?", [.int(ClientConfigRecord.scopeKey(ouID))]).first.map(ClientConfigRecord.init(row:))
        }
    }

    /// Configs of these OUs plus the default (nil = all of them).
    public func clientConfigs(ouIDs: [Int64]?) async throws -> [ClientConfigRecord] {
        try await pool.withConnection { c in
            let scope = ouIDs.map { ids in ("scope_key IN (\(placeholders(ids.count + 1)))", ([0] + ids).map(SQLValue.int)) }
            return try c.query("SELECT * FROM client_configs\(scope.map { " WHERE " + $0.0 } ?? "") ORDER BY scope_key", scope?.1 ?? [])
                .map(ClientConfigRecord.init(row:))
        }
    }

    /// Creates or replaces the config of an OU (or the default).
    public func putClientConfig(_ config: ClientConfigRecord) async throws -> ClientConfigRecord {
        let key = ClientConfigRecord.scopeKey(config.ouID)
        let binds: [SQLValue] = [.text(config.name), .text(config.configJSON), .optional(config.updatedBy), .int(config.updatedAt)]
        do {
            try await pool.withConnection { c in
                try c.transaction {
                    if try c.execute("UPDATE client_configs SET name = ?, config_json = ?, updated_by = ?, updated_at = ? WHERE scope_key = ?",
                                     binds + [.int(key)]).affectedRows == 0 {
                        try c.execute("INSERT INTO client_configs (name, config_json, updated_by, updated_at, scope_key, ou_id) VALUES (?, ?, ?, ?, ?, ?)",
                                      binds + [.int(key), .optional(config.ouID)])
                    }
                }
            }
        } catch {
            throw Self.translate(error, conflict: "the config was written concurrently; retry")
        }
        return config
    }

    public func deleteClientConfig(ouID: Int64) async throws {
        try await pool.withConnection { c in
            guard try c.execute("DELETE FROM client_configs WHERE scope_key = ?", [.int(ouID)]).affectedRows == 1 else {
                throw StoreError.notFound("config for OU \(ouID)")
            }
        }
    }

    /// The config that applies to an OU: its own, else the nearest ancestor's, else the default.
    public func effectiveClientConfig(ouID: Int64) async throws -> ClientConfigRecord? {
        try await pool.withConnection { c in
            var parent: [Int64: Int64] = [:]
            for row in try c.query("SELECT id, parent_id FROM organization_units") {
                if let id = row.int("id"), let p = row.int("parent_id") { parent[id] = p }
            }
            var chain: [Int64] = []
            var next: Int64? = ouID
            while let id = next, !chain.contains(id) { chain.append(id); next = parent[id] }
            let configs = Dictionary(uniqueKeysWithValues: try c.query("SELECT * FROM client_configs WHERE scope_key IN (\(placeholders(chain.count + 1)))",
                                                                       (chain + [0]).map(SQLValue.int)).map { (ClientConfigRecord.scopeKey($0.int("ou_id")), ClientConfigRecord(row: $0)) })
            return (chain + [0]).lazy.compactMap { configs[$0] }.first
        }
    }
}
