import Foundation
import Engine
import HTTPTypes
import Hummingbird
import SQLDatabase

/// Result upload (acknowledged after the batch commits) and scoped, cursor-paged queries.
struct ResultsController {
    let services: ControlServices

    /// The listing's metric keys, prepared once, in `ResultMetrics.declared` order.
    static let metricKeys = ResultMetrics.declared.map { JSONKey($0.name) }

    static let maxRawBytes = 65_536

    /// Where each field sits in an uploaded result, looked up once rather than per row.
    private enum At {
        static let createdAt = Schemas.result.position(of: "created_at")
        static let testType = Schemas.result.position(of: "test_type")
        static let target = Schemas.result.position(of: "target")
        static let outcome = Schemas.result.position(of: "outcome")
        static let success = Schemas.result.position(of: "success")
        static let protocolDetail = Schemas.result.position(of: "protocol_detail")
        static let resolvedAddress = Schemas.result.position(of: "resolved_address")
        static let sent = Schemas.result.position(of: "sent")
        static let received = Schemas.result.position(of: "received")
        static let deviceID = Schemas.result.position(of: "device_id")
        static let raw = Schemas.result.position(of: "raw")
        /// (position in the upload, position in `ResultMetrics`) per declared metric.
        static let metrics = ResultMetrics.declared.indices.map { (Schemas.result.position(of: ResultMetrics.declared[$0].name), $0) }
    }

    /// A validated result (`Schemas.result`) as a row. The schema requires the four fields read
    /// first; one missing means the schema and this reader disagree, a bug answered 500.
    static func row(from item: JSONObject, now: Int64, userID: Int64?, ouID: Int64?) throws -> ResultRow {
        guard let testType = item[At.testType]?.string, let target = item[At.target]?.string, let outcome = item[At.outcome]?.string,
              let success = item[At.success]?.bool else {
            throw BodyDeclarationMismatch(operation: "uploadResults", type: "ResultRow", underlying: "a required field is missing")
        }
        var row = ResultRow(createdAt: item[At.createdAt]?.int ?? now, source: userID == nil ? "server" : "client",
                            testType: testType, target: target, outcome: outcome, success: success)
        row.protocolDetail = item[At.protocolDetail]?.string ?? ""
        row.resolvedAddress = item[At.resolvedAddress]?.string
        row.sent = item[At.sent]?.int
        row.received = item[At.received]?.int
        for (position, index) in At.metrics { row.metrics[index] = item[position]?.double }
        row.deviceID = item[At.deviceID]?.int
        row.userID = userID
        row.ouID = ouID
        row.rawJSON = item[At.raw]?.rawJSON
        return row
    }

    /// One stored result as JSON, for a row read in place (`Store.resultArray`): keys known at
    /// build time, columns in `ResultRow.columnNames` order, values converted as
    /// `ResultRow(row:at:)` converts them, the stored raw document embedded as stored.
    static func write(_ row: any SQLCursor, at columns: Store.ResultColumns, into w: inout JSONBuffer) -> Int64 {
        let c = columns.row
        let m = ResultMetrics.declared.count
        let id = row.int(columns.id) ?? 0
        let empty = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        w.beginObject()
        w.field("id", id)
        w.field("created_at", row.int(c[0]) ?? 0)
        row.withText(c[3]) { w.field("test_type", utf8: $0 ?? empty) }
        row.withText(c[4]) { w.field("protocol_detail", utf8: $0 ?? empty) }
        row.withText(c[5]) { w.field("target", utf8: $0 ?? empty) }
        row.withText(c[6]) { w.field("resolved_address", utf8: $0) }
        row.withText(c[7]) { w.field("outcome", utf8: $0 ?? empty) }
        w.field("success", (row.int(c[8]) ?? 0) != 0)
        w.field("sent", row.int(c[9]))
        w.field("received", row.int(c[10]))
        w.field("device_id", row.int(c[11 + m]))
        w.field("user_id", row.int(c[12 + m]))
        w.field("ou_id", row.int(c[13 + m]))
        for (index, key) in metricKeys.enumerated() { w.field(key, row.double(c[11 + index])) }
        row.withText(c[14 + m]) { raw in if let raw { w.field("raw", json: raw) } }
        w.endObject()
        return id
    }

    /// A server key's upload refers only to units and devices that exist within its scope: the OU
    /// (refused outside it, 409 if it does not exist) and each row's device (409 if it does not
    /// exist or lies outside; one answer, so a bound key learns nothing of other units). A row of
    /// a device takes the device's OU; an OU named in the body must be that OU.
    static func checkReferences(_ rows: inout [ResultRow], ouID: Int64?, named: Bool, scope: Scope, store: Store) async throws {
        if let ouID, !scope.contains(ouID) { throw APIError.refused("ou_id", "is outside this server key's organisation unit") }
        let references = try await store.references(ouIDs: ouID.map { [$0] } ?? [], deviceIDs: Set(rows.compactMap(\.deviceID)))
        if let ouID, !references.ous.contains(ouID) { throw APIError.conflict("ou_id", "organisation unit \(ouID) does not exist") }
        for index in rows.indices {
            guard let deviceID = rows[index].deviceID else { continue }
            guard let deviceOU = references.deviceOUs[deviceID], scope.contains(deviceOU) else {
                throw APIError.conflict("results[\(index)].device_id", "no device \(deviceID) within this server key's scope")
            }
            if named, deviceOU != ouID {
                throw APIError.conflict("results[\(index)].device_id", "device \(deviceID) belongs to organisation unit \(deviceOU), not ou_id")
            }
            rows[index].ouID = deviceOU
        }
    }

    /// The answer a committed batch got, for its retry (200, `Idempotent-Replayed: true`); a
    /// key reused for another body is refused.
    static func replay(_ stored: UploadKey, bodyHash: String) throws -> Response {
        guard stored.bodyHash == bodyHash else {
            throw APIError(.unprocessableContent, "idempotency_key_reused",
                           "Idempotency-Key \(stored.key) was used for a different batch; use a new key for new results",
                           fields: ["Idempotency-Key": "used for a different body"])
        }
        return JSONResponse.encode(ResultAck(accepted: Int(stored.accepted), lastID: stored.lastID), status: .ok,
                                   headers: [HTTPField.Name("Idempotent-Replayed")!: "true"])
    }

    func register(_ routes: inout Routes) {
        let services = self.services

        routes.on("uploadResults") { request, context, operation in
            var request = request
            let principal = try context.caller()
            let key = try request.idempotencyKey()
            let (buffer, schema) = try await request.jsonBody(operation)
            let bodyHash = key == nil ? "" : buffer.withUnsafeReadableBytes { Secrets.sha256Hex($0) }
            let quotaKey = principal.quotaKey
            // A key seen before: its first answer, not a second copy of the rows.
            if let key, let stored = try await services.store.uploadKey(principal: quotaKey, key: key) {
                return try Self.replay(stored, bodyHash: bodyHash)
            }
            let body = try buffer.withUnsafeReadableBytes { try SchemaValidator.parse($0, as: schema) }
            let items = body.objects("results")
            if items.isEmpty { throw APIError.invalid("results", "must not be empty") }
            // Attribution comes from the credential: a device's results are its own and its OU's; a
            // user's are theirs; only server keys name an OU and a device.
            let ouID: Int64?
            if let device = principal.device {
                if body.has("ou_id") { throw APIError.refused("ou_id", "a device's results belong to its own OU") }
                ouID = device.ouID
            } else if let user = principal.user {
                if body.has("ou_id") { throw APIError.refused("ou_id", "only server keys name an OU; yours is \(user.ouID.map(String.init) ?? "none")") }
                ouID = user.ouID
            } else {
                // A server key: the OU named, else the one it is bound to.
                ouID = body.int("ou_id") ?? principal.serverKey?.ouID
            }
            let now = WallClock.nowMillis()
            var rows: [ResultRow] = []
            rows.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                var row = try Self.row(from: item, now: now, userID: principal.user?.id, ouID: ouID)
                if let device = principal.device {
                    if let claimed = row.deviceID, claimed != device.id {
                        throw APIError.refused("results[\(index)].device_id", "a device uploads only its own results (\(device.id))")
                    }
                    row.deviceID = device.id
                    row.source = "device"
                } else if principal.user != nil, row.deviceID != nil {
                    throw APIError.refused("results[\(index)].device_id", "only devices and server keys attribute results to a device")
                }
                if (row.rawJSON?.utf8.count ?? 0) > Self.maxRawBytes {
                    throw APIError.invalid("results[\(index)].raw", "must be at most 64 KiB as JSON")
                }
                rows.append(row)
            }
            if principal.serverKey != nil {
                try await Self.checkReferences(&rows, ouID: ouID, named: body.has("ou_id"), scope: principal.scope, store: services.store)
            }
            // This principal's share of the writer's queue: one flooder waits, not everyone.
            guard services.quotas.reserveRows(quotaKey, rows.count) else {
                throw APIError(.tooManyRequests, "upload_share", "\(principal.displayName) already has its share of the result queue "
                               + "(\(services.quotas.queuedRowShare) rows) waiting to be written; retry when those are acknowledged",
                               retryAfterSeconds: 1)
            }
            defer { services.quotas.releaseRows(quotaKey, rows.count) }
            guard let key else {
                let lastID = try await services.writer.write(rows)
                return JSONResponse.encode(ResultAck(accepted: rows.count, lastID: lastID), status: .created)
            }
            // One request per key at a time here; across servers the key's primary key decides.
            let claim = quotaKey + " " + key
            guard services.uploadsInFlight.claim(claim) else {
                throw APIError(.conflict, "idempotency_key_in_use", "a request with Idempotency-Key \(key) is still being processed; retry",
                               retryAfterSeconds: 1)
            }
            defer { services.uploadsInFlight.release(claim) }
            let record = UploadKey(principal: quotaKey, key: key, bodyHash: bodyHash, accepted: Int64(rows.count), lastID: 0,
                                   createdAt: WallClock.nowMillis())
            do {
                let lastID = try await services.writer.write(rows, key: record)
                return JSONResponse.encode(ResultAck(accepted: rows.count, lastID: lastID), status: .created)
            } catch ResultWriterError.rejected(let why) {
                // Committed meanwhile by another request (here, or on another server).
                if let stored = try await services.store.uploadKey(principal: quotaKey, key: key) {
                    return try Self.replay(stored, bodyHash: bodyHash)
                }
                throw ResultWriterError.rejected(why)
            }
        }

        /// The caller's scope and the query's common filters.
        @Sendable func filter(_ request: Request, _ context: ControlContext) async throws -> ResultFilter {
            let principal = try context.caller()
            var filter = ResultFilter()
            filter.testType = try request.queryString("test_type", maxLength: 32)
            filter.target = try request.queryString("target")
            filter.deviceID = try request.queryInt64("device_id")
            if filter.deviceID == 0 { throw APIError.invalid("device_id", "must be a device id (1 or more)") }
            filter.since = try request.queryInt64("since")
            filter.until = try request.queryInt64("until")
            let scope = principal.scope
            if let ouIDs = scope.ouIDs {
                filter.ouIDs = Array(ouIDs)
                filter.userID = principal.user?.id
            }
            return filter
        }

        routes.on("listResults") { request, context, _ in
            var filter = try await filter(request, context)
            filter.limit = try request.queryInt("limit", default: 50, range: 1...1000)
            if let cursor = try request.queryString("cursor", maxLength: 24) {
                guard let id = Int64(cursor), id > 0 else { throw APIError.invalid("cursor", "is not a cursor this API returned") }
                filter.beforeID = id
            }
            // A page asked for again since the last change to the results is sent as rendered.
            let key = ResultPageCache.Key(filter)
            let generation = services.store.resultsGeneration
            if let page = services.resultPages.lookup(key, generation: generation, now: WallClock.nowMillis()) {
                return JSONResponse.make(buffer: page)
            }
            // Rendered on the database thread, row by row as the driver holds them.
            let page = try await services.store.resultArray(filter, capacity: filter.limit * 700 + 64,
                                                            maxBytes: services.configuration.maxResponseBytes) { row, columns, w in
                Self.write(row, at: columns, into: &w)
            }
            var w = JSONBuffer(capacity: page.json.count + 64)
            w.beginObject()
            page.json.withUnsafeBufferPointer { w.field("results", json: $0) }
            w.field("next_cursor", page.count == filter.limit || page.full ? page.lastID.map { String($0) } : nil)
            w.endObject()
            let body = ByteBuffer(bytes: w.bytes)
            services.resultPages.insert(key, body, generation: generation, current: services.store.resultsGeneration, now: WallClock.nowMillis())
            return JSONResponse.make(buffer: body)
        }

        routes.on("listSeries") { request, context, _ in
            let filter = try await filter(request, context)
            let limit = try request.queryInt("limit", default: 1000, range: 1...10_000)
            let rows = try await services.store.series(filter, limit: limit)
            return JSONResponse.encode(SeriesListResponse(series: rows.map(SeriesEntry.init)))
        }

        routes.on("statistics") { request, context, _ in
            var query = StatisticsQuery()
            query.filter = try await filter(request, context)
            // Always a bounded window: without one a call sorted every row in scope. A longer one is
            // narrowed to its last statistics_max_window (the answer says what it covered); an
            // empty one (since >= until) covers nothing.
            let limits = services.configuration
            let until = query.filter.until ?? WallClock.nowMillis() + 1
            let since = max(query.filter.since ?? until - limits.statisticsWindow.milliseconds,
                            until - limits.statisticsMaxWindow.milliseconds, 0)
            query.filter.since = since
            query.filter.until = until
            query.limit = try request.queryInt("limit", default: 100, range: 1...10_000)
            let grouping = try request.queryString("group_by", maxLength: 16) ?? "test_type"
            switch grouping {
            case "test_type": query.grouping = .testType
            case "target": query.grouping = .target
            case "device": query.grouping = .device
            case "time": query.grouping = .time(bucket: Int64(try request.queryInt("bucket", default: 3600, range: 1...2_592_000)) * 1000)
            default: throw APIError.invalid("group_by", "must be one of test_type, target, device, time")
            }
            let metric = try request.queryString("metric", maxLength: 32) ?? "latency_ms"
            guard StatisticsQuery.metrics.contains(metric) else {
                throw APIError.invalid("metric", "must be one of \(StatisticsQuery.metrics.joined(separator: ", "))")
            }
            query.metric = metric
            let rows = try await services.store.statistics(query)
            let groups = rows.map { StatisticsGroup($0, grouping: query.grouping) }
            return JSONResponse.encode(StatisticsResponse(groupBy: grouping, metric: metric, since: since, until: until, groups: groups))
        }
    }
}
