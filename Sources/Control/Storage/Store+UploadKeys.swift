import SQLDatabase

/// An upload's idempotency key as stored with its rows: who sent it, the key, a hash of the
/// body it came with, and the answer it got.
public struct UploadKey: Sendable, Equatable {
    /// `Principal.quotaKey` of the sender (`d12`, `u3`, `k5`): keys are per sender.
    public var principal: String
    public var key: String
    /// SHA-256 (hex) of the request body.
    public var bodyHash: String
    public var accepted: Int64
    public var lastID: Int64
    public var createdAt: Int64
}

extension Store {
    /// The stored key, if a batch with it was committed (and not yet purged).
    public func uploadKey(principal: String, key: String) async throws -> UploadKey? {
        try await pool.withConnection { c in
            try c.query("SELECT * FROM upload_keys WHERE principal = ? AND idem_key = ?", [.text(principal), .text(key)]).first.map { row in
                UploadKey(principal: principal, key: key, bodyHash: row.string("body_hash") ?? "", accepted: row.int("accepted") ?? 0,
                          lastID: row.int("last_id") ?? 0, createdAt: row.int("created_at") ?? 0)
            }
        }
    }

    /// Forgets keys older than `cutoff` (ms): a batch retried after that is stored again.
    public func deleteUploadKeys(olderThan cutoff: Int64) async throws -> Int64 {
        try await pool.withConnection { c in
            try c.execute("DELETE FROM upload_keys WHERE created_at < ?", [.int(cutoff)]).affectedRows
        }
    }
}

extension UploadKey {
    static let insert = "INSERT INTO upload_keys (principal, idem_key, body_hash, accepted, last_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"

    /// Inserted in the batch's transaction, after its rows: `lastID` is the batch's.
    func store(lastID: Int64, on connection: any SQLConnection) throws {
        try connection.execute(Self.insert, [.text(principal), .text(key), .text(bodyHash), .int(accepted), .int(lastID), .int(createdAt)])
    }
}
