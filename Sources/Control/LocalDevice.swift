import Foundation
import ProbeModel
import SQLDatabase

/// The all-in-one server's own agent (`waddleperf serve`): a device like any other, in an OU
/// named `local`, whose checks are that OU's client configuration, so they are edited through
/// the API like any device's. Provisioned at each start with a new token that lives only in
/// memory.
public struct LocalDevice: Sendable {
    public var deviceID: Int64
    public var ouID: Int64
    public var token: String
    /// False when an administrator deactivated it: the embedded agent then stays off.
    public var active: Bool
}

extension ControlServices {
    /// The local device, its OU and (on first start only) its configuration with
    /// `defaultChecks`; a later start keeps the configuration as edited.
    public func provisionLocalDevice(serial: String, hostname: String, defaultChecks: [ScheduledCheck]) async throws -> LocalDevice {
        try ScheduledCheck.validate(defaultChecks)
        let store = self.store
        let ous = try await store.listOUs()
        var ou = ous.first { $0.name == "local" && $0.parentID == nil }
        if ou == nil { ou = try await store.createOU(name: "local", description: "this server's own agent", parentID: nil) }
        guard let ou else { preconditionFailure() }
        if try await store.clientConfig(ouID: ou.id) == nil {
            let document = ClientConfigDocument(intervalSeconds: 60, checks: defaultChecks)
            _ = try await store.putClientConfig(ClientConfigRecord(ouID: ou.id, name: "local checks", configJSON: try document.storedJSON(),
                                                                  updatedBy: nil, updatedAt: WallClock.nowMillis()))
        }
        let token = DeviceTokens.generate()
        let device = try await store.upsertLocalDevice(serial: serial, hostname: hostname, ouID: ou.id, tokenHash: Secrets.sha256Hex(token))
        return LocalDevice(deviceID: device.id, ouID: device.ouID, token: token, active: device.active)
    }
}

extension Store {
    /// Creates the device, or gives the existing one a new token (the old one stops working).
    func upsertLocalDevice(serial: String, hostname: String, ouID: Int64, tokenHash: String) async throws -> Device {
        try await changingAuthentication {
            try await pool.withConnection { c in
                try c.transaction {
                    let now = WallClock.nowMillis()
                    if let row = try c.query("SELECT id FROM devices WHERE serial = ?", [.text(serial)]).first, let id = row.int("id") {
                        try c.execute("UPDATE devices SET token_hash = ?, hostname = ?, client_version = ? WHERE id = ?",
                                      [.text(tokenHash), .text(hostname), .text("embedded"), .int(id)])
                    } else {
                        try c.execute("""
                            INSERT INTO devices (serial, hostname, os, os_version, client_type, client_version, ou_id, token_hash,
                              enrolled_address, active, enrolled_at, last_seen_at)
                            VALUES (?, ?, '', '', 'waddleperf-serve', 'embedded', ?, ?, 'local', 1, ?, NULL)
                            """, [.text(serial), .text(hostname), .int(ouID), .text(tokenHash), .int(now)])
                    }
                    return try c.query("SELECT * FROM devices WHERE serial = ?", [.text(serial)]).first.map(Device.init(row:))!
                }
            }
        }
    }
}
