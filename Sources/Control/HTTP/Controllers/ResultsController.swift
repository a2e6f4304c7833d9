import Foundation
import Hummingbird

/// Result upload (acknowledged after the batch commits) and scoped, cursor-paged queries.
struct ResultsController {
    let services: ControlServices

    nonisolated(unsafe) static let metricColumns: [(String, WritableKeyPath<ResultRow, Double?>)] = [
        ("loss_percent", \.lossPercent), ("latency_ms", \.latencyMs), ("min_ms", \.minMs), ("max_ms", \.maxMs), ("p50_ms", \.p50Ms),
        ("p99_ms", \.p99Ms), ("jitter_ms", \.jitterMs), ("stddev_ms", \.stddevMs), ("throughput_mbps", \.throughputMbps),
        ("dns_ms", \.dnsMs), ("connect_ms", \.connectMs), ("tls_ms", \.tlsMs), ("ttfb_ms", \.ttfbMs), ("transfer_ms", \.transferMs),
        ("total_ms", \.totalMs),
    ]

    static let maxRawBytes = 65_536

    static func row(from item: JSONObject, now: Int64, userID: Int64?, ouID: Int64?) -> ResultRow {
        var row = ResultRow(createdAt: item.int("created_at") ?? now, source: userID == nil ? "server" : "client",
                            testType: item.string("test_type")!, target: item.string("target")!, outcome: item.string("outcome")!,
                            success: item.bool("success")!)
        row.protocolDetail = item.string("protocol_detail") ?? ""
        row.resolvedAddress = item.string("resolved_address")
        row.sent = item.int("sent")
        row.received = item.int("received")
        for (name, path) in metricColumns { row[keyPath: path] = item.double(name) }
        row.deviceID = item.int("device_id")
        row.userID = userID
        row.ouID = ouID
        if let raw = item.values["raw"], let data = try? JSONSerialization.data(withJSONObject: raw, options: [.sortedKeys]) {
            row.rawJSON = String(decoding: data, as: UTF8.self)
        }
        return row
    }

    static func json(_ stored: StoredResult) -> [String: Any] {
        let row = stored.row
        var json: [String: Any] = [
            "id": stored.id, "created_at": row.createdAt, "test_type": row.testType, "protocol_detail": row.protocolDetail,
            "target": row.target, "resolved_address": JSONResponse.optional(row.resolvedAddress), "outcome": row.outcome,
            "success": row.success, "sent": JSONResponse.optional(row.sent), "received": JSONResponse.optional(row.received),
            "device_id": JSONResponse.optional(row.deviceID), "user_id": JSONResponse.optional(row.userID), "ou_id": JSONResponse.optional(row.ouID),
        ]
        for (name, path) in metricColumns { json[name] = JSONResponse.optional(row[keyPath: path]) }
        if let raw = row.rawJSON, let object = try? JSONSerialization.jsonObject(with: Data(raw.utf8)) { json["raw"] = object }
        return json
    }

    func register(_ routes: inout Routes) {
        let services = self.services

        routes.on("uploadResults") { request, context, operation in
            var request = request
            let principal = try context.caller
            let body = try await request.json(operation)
            let items = body.objects("results")
            if items.isEmpty { throw APIError.invalid("results", "must not be empty") }
            let ouID: Int64?
            if let user = principal.user {
                if body.has("ou_id") { throw APIError.invalid("ou_id", "only server keys name an OU; yours is \(user.ouID.map(String.init) ?? "none")") }
                ouID = user.ouID
            } else {
                ouID = body.int("ou_id")
            }
            let now = WallClock.nowMillis()
            let rows = items.map { Self.row(from: $0, now: now, userID: principal.user?.id, ouID: ouID) }
            for (index, row) in rows.enumerated() where (row.rawJSON?.utf8.count ?? 0) > Self.maxRawBytes {
                throw APIError.invalid("results[\(index)].raw", "must be at most 64 KiB as JSON")
            }
            let lastID = try await services.writer.write(rows)
            return JSONResponse.make(["accepted": rows.count, "last_id": lastID], status: .created)
        }

        routes.on("listResults") { request, context, _ in
            let principal = try context.caller
            var filter = ResultFilter()
            filter.limit = try request.queryInt("limit", default: 50, range: 1...1000)
            if let cursor = try request.queryString("cursor", maxLength: 24) {
                guard let id = Int64(cursor), id > 0 else { throw APIError.invalid("cursor", "is not a cursor this API returned") }
                filter.beforeID = id
            }
            filter.testType = try request.queryString("test_type", maxLength: 32)
            filter.target = try request.queryString("target")
            filter.deviceID = try request.queryInt64("device_id")
            filter.since = try request.queryInt64("since")
            filter.until = try request.queryInt64("until")
            let scope = try await services.scope(of: principal)
            if let ouIDs = scope.ouIDs {
                filter.ouIDs = Array(ouIDs)
                filter.userID = principal.user?.id
            }
            let results = try await services.store.results(filter)
            let next: Any = results.count == filter.limit ? String(results.last!.id) : NSNull()
            return JSONResponse.make(["results": results.map(Self.json), "next_cursor": next])
        }
    }
}
