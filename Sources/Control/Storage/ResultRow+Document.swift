import Foundation
import ProbeModel

extension ResultRow {
    /// A result document as a row, as an upload of it would be stored: the stored metrics in
    /// their columns, `details` and `hops` as the raw JSON. `source` says who measured it
    /// (`client`, `server`, `test`: the test server itself).
    init(_ document: ResultDocument, source: String, receivedAt now: Int64, userID: Int64?, ouID: Int64?) {
        self.init(createdAt: document.createdAt ?? now, source: source, testType: document.testType, target: document.target,
                  outcome: String(document.outcome.prefix(32)), success: document.success)
        protocolDetail = String((document.protocolDetail ?? "").prefix(64))
        resolvedAddress = document.resolvedAddress
        sent = document.sent
        received = document.received
        for (name, value) in document.metrics {
            if let index = ResultMetrics.index(of: name) { metrics[index] = value }
        }
        deviceID = document.deviceID
        self.userID = userID
        self.ouID = ouID
        if !document.details.isEmpty || !document.hops.isEmpty {
            let raw = Raw(details: document.details.isEmpty ? nil : document.details, hops: document.hops.isEmpty ? nil : document.hops)
            rawJSON = (try? Self.rawEncoder.encode(raw)).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// The document's kind-specific part, as an upload's `raw` holds it.
    private struct Raw: Encodable {
        var details: [String: ResultDocument.DetailValue]?
        var hops: [ResultDocument.Hop]?
    }

    private static let rawEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
