import Foundation
import ProbeModel

extension ResultDocument {
    /// The document as JSON, the same fields as its `Codable` encoding (metrics in catalog
    /// order, `raw` with `details`), written straight into bytes: the agent encodes a thousand a
    /// second, and `JSONEncoder` was the largest part of its CPU. Documents with hops take the
    /// `Codable` path.
    public func jsonBytes() throws -> [UInt8] {
        guard hops.isEmpty else { return Array(try JSONEncoder().encode(self)) }
        var w = JSONBuffer(capacity: 512)
        w.beginObject()
        w.field("test_type", testType)
        w.field("target", target)
        if let resolvedAddress { w.field("resolved_address", resolvedAddress) }
        if let protocolDetail { w.field("protocol_detail", protocolDetail) }
        w.field("outcome", outcome)
        w.field("success", success)
        if let createdAt { w.field("created_at", createdAt) }
        if let sent { w.field("sent", sent) }
        if let received { w.field("received", received) }
        if let deviceID { w.field("device_id", deviceID) }
        if let stored {
            w.field("id", stored.id)
            if let user = stored.userID { w.field("user_id", user) }
            if let ou = stored.ouID { w.field("ou_id", ou) }
        }
        for (metric, key) in zip(KindCatalog.builtIn.storedMetrics, Self.metricKeys) {
            if let v = metrics[metric.name], v.isFinite { w.field(key, v) }
        }
        if !details.isEmpty {
            w.key("raw")
            w.beginObject()
            w.key("details")
            w.beginObject()
            for (name, value) in details.sorted(by: { $0.key < $1.key }) {
                switch value {
                case .text(let t): w.field(dynamic: name, t)
                case .number(let n): if n.isFinite { w.field(dynamic: name, n) }
                case .flag(let f): w.field(dynamic: name, f)
                }
            }
            w.endObject()
            w.endObject()
        }
        w.endObject()
        return w.bytes
    }

    private static let metricKeys = KindCatalog.builtIn.storedMetrics.map { JSONKey($0.name) }
}
