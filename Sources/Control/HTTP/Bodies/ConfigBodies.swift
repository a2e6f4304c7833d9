import Foundation
import ProbeModel

// Client configuration documents and the bodies of the config routes.

/// `Schemas.clientConfigDocument`: what a device runs and how often it checks in. Optional
/// fields stay absent when absent (no defaults are written into stored documents).
struct ClientConfigDocument: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.clientConfigDocument }

    /// How often a device runs its tests.
    var intervalSeconds: Int
    /// Spread of the interval and check-in, ± this percentage (devices assume 0).
    var jitterPercent: Int?
    /// How often a device pulls its config (devices assume 900).
    var checkinSeconds: Int?
    /// The original clients' test list (run every `interval_seconds`).
    var tests: [ProbeSpec]?
    /// What `waddleperf agent` runs: checks of any kind, each on its own schedule.
    var checks: [ScheduledCheck]?
    var thresholds: Thresholds?

    init(intervalSeconds: Int, jitterPercent: Int? = nil, checkinSeconds: Int? = nil, tests: [ProbeSpec]? = nil,
         checks: [ScheduledCheck]? = nil, thresholds: Thresholds? = nil) {
        self.intervalSeconds = intervalSeconds
        self.jitterPercent = jitterPercent
        self.checkinSeconds = checkinSeconds
        self.tests = tests
        self.checks = checks
        self.thresholds = thresholds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case intervalSeconds = "interval_seconds"
        case jitterPercent = "jitter_percent"
        case checkinSeconds = "checkin_seconds"
        case tests
        case checks
        case thresholds
    }

    /// What the schema cannot say about `checks`: each is valid for its kind, fits in its
    /// interval, and has a distinct name.
    func validateChecks() throws {
        guard let checks else { return }
        do { try ScheduledCheck.validate(checks, path: "config.checks") } catch { throw APIError.uncheckable(error.field, error.message) }
    }

    /// `Schemas.probeSpec`: one test of a config (not `ProbeModel.ProbeSpec`).
    struct ProbeSpec: APIBody, Equatable {
        static var schema: ObjectSchema { Schemas.probeSpec }

        var type: String
        var target: String
        var port: Int?
        var count: Int?
        var timeoutMS: Int?
        var protocolDetail: String?
        var enabled: Bool?

        init(type: String, target: String, port: Int? = nil, count: Int? = nil, timeoutMS: Int? = nil,
             protocolDetail: String? = nil, enabled: Bool? = nil) {
            self.type = type
            self.target = target
            self.port = port
            self.count = count
            self.timeoutMS = timeoutMS
            self.protocolDetail = protocolDetail
            self.enabled = enabled
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case type
            case target
            case port
            case count
            case timeoutMS = "timeout_ms"
            case protocolDetail = "protocol_detail"
            case enabled
        }
    }

    /// The `Thresholds` object of `Schemas.clientConfigDocument`.
    struct Thresholds: Codable, Sendable, Equatable {
        var latencyMS: Double?
        var lossPercent: Double?

        init(latencyMS: Double? = nil, lossPercent: Double? = nil) {
            self.latencyMS = latencyMS
            self.lossPercent = lossPercent
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case latencyMS = "latency_ms"
            case lossPercent = "loss_percent"
        }
    }

    /// Stored documents are written with sorted keys, so equal configs read back alike.
    static let storageEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static let storageDecoder = JSONDecoder()

    /// The document as stored in `client_configs.config_json`.
    func storedJSON() throws -> String {
        String(decoding: try Self.storageEncoder.encode(self), as: UTF8.self)
    }

    /// A document as stored by `storedJSON()`.
    init(storedJSON text: String) throws {
        do {
            self = try Self.storageDecoder.decode(ClientConfigDocument.self, from: Data(text.utf8))
        } catch {
            throw StoredConfigUnreadable(underlying: "\(error)")
        }
    }
}

/// A stored client config that does not decode as `ClientConfigDocument`: every stored document
/// passed the request schema, so this is a bug or a damaged row (answered 500, logged).
struct StoredConfigUnreadable: Error, CustomStringConvertible {
    let underlying: String
    var description: String { "stored client config does not decode: \(underlying)" }
}

/// `Schemas.clientConfig`: an OU's config, or the default (`ou_id` null).
struct ClientConfigBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.clientConfig }

    @ExplicitNull var ouID: Int64?
    var name: String
    var config: ClientConfigDocument
    var updatedAt: APITimestamp
    @ExplicitNull var updatedBy: Int64?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ouID = "ou_id"
        case name
        case config
        case updatedAt = "updated_at"
        case updatedBy = "updated_by"
    }
}

extension ClientConfigBody {
    /// `config`: the record's document, already decoded.
    init(_ record: ClientConfigRecord, config: ClientConfigDocument) {
        self.init(ouID: record.ouID, name: record.name, config: config, updatedAt: APITimestamp(millis: record.updatedAt),
                  updatedBy: record.updatedBy)
    }

    /// Decodes the record's stored document.
    init(_ record: ClientConfigRecord) throws {
        let config = try ClientConfigDocument(storedJSON: record.configJSON)
        self.init(record, config: config)
    }
}

/// `Schemas.clientConfigList`.
struct ClientConfigList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.clientConfigList }

    var configs: [ClientConfigBody]

    init(_ configs: [ClientConfigBody]) { self.configs = configs }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case configs
    }
}

/// `Schemas.putClientConfig`.
struct PutClientConfigRequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.putClientConfig }

    var name: String
    var config: ClientConfigDocument

    init(name: String, config: ClientConfigDocument) {
        self.name = name
        self.config = config
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case config
    }
}
