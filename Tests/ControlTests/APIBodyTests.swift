@testable import Control
import Foundation
import ProbeModel
import Testing

/// Every typed body names exactly the fields of the schema it mirrors (the schema validates
/// requests and is what the OpenAPI document publishes), and every object schema an operation
/// declares has its body type.
@Suite("API bodies")
struct APIBodyTests {
    static let bodies: [any APIBody.Type] = [
        LoginRequest.self, LoginResponse.self, SpeedUploadResponse.self, SeriesListResponse.self, SeriesEntry.self, ChangePasswordRequest.self, MFASetupResponse.self, MFACodeRequest.self,
        MFADisableRequest.self, MessageResponse.self, RevokedCounts.self, RevocationResponse.self,
        UserBody.self, UserList.self, CreateUserRequest.self, UpdateUserRequest.self, SetPasswordRequest.self,
        APIKeyBody.self, APIKeyList.self, CreateAPIKeyRequest.self, CreateServerKeyRequest.self, ServerKeyList.self, MFASetupRequest.self,
        OUBody.self, OUList.self, OUTreeNode.self, OUTree.self, CreateOURequest.self, UpdateOURequest.self,
        DeviceBody.self, DeviceList.self, DeviceSummaryBody.self, EnrollmentSecretBody.self, EnrollmentSecretList.self,
        CreateEnrollmentSecretRequest.self, EnrollRequest.self, EnrollmentResponse.self, DeviceConfigResponse.self, HeartbeatResponse.self,
        ClientConfigDocument.self, ClientConfigDocument.ProbeSpec.self, ClientConfigBody.self, ClientConfigList.self, PutClientConfigRequest.self,
        HealthResponse.self, ReadyResponse.self, AuditEntryBody.self, AuditPage.self, ServerKeyBody.self,
        ResultAck.self, StatisticsResponse.self, StatisticsGroup.self, TestBody.self, TestList.self, LegacyTestRequest.self,
        AgentStatus.self, AlertRuleRequest.self, AlertRuleBody.self, AlertRuleList.self, AlertList.self, AlertBody.self,
        AlertTransitionBody.self, AlertTransitionList.self, AlertNotificationBody.self, AlertNotificationList.self,
    ]

    static func keys<Body: APIBody>(_ type: Body.Type) -> Set<String> { Set(Body.CodingKeys.allCases.map(\.stringValue)) }

    @Test("a body's coding keys are its schema's fields", arguments: bodies.indices)
    func keysMatchSchema(_ index: Int) {
        let body = Self.bodies[index]
        let schema = body.schema
        #expect(Self.keys(body) == Set(schema.fields.map(\.name)), "\(body) vs \(schema.name)")
    }

    @Test("every object an operation sends or takes has a body type (the upload and the listing are hand-written)")
    func everySchemaHasABody() {
        let covered = Set(Self.bodies.map { $0.schema.name })
        // The upload and the listing are hand-tuned; a check is ProbeModel's own strict type
        // (`checkSchemaIsTheModel`); the original's test answers are built per kind.
        let handWritten: Set<String> = ["ResultUpload", "ResultPage", "Check", "LegacyTestResponse"]
        for operation in API.operations {
            for schema in [operation.request, operation.response].compactMap({ $0 }) where !handWritten.contains(schema.name) {
                #expect(covered.contains(schema.name), "\(operation.id): \(schema.name) has no body type")
            }
        }
    }

    @Test("the ScheduledCheck schema is the Check schema plus ScheduledCheck's own keys")
    func scheduledCheckSchemaIsTheModel() throws {
        let check = ScheduledCheck(ProbeSpec(kind: "tcp", target: "192.0.2.1:80", name: "n"), everySeconds: 5, enabled: false)
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(check)) as? [String: Any] ?? [:]
        let fields = Set(Schemas.scheduledCheck.fields.map(\.name))
        #expect(Set(encoded.keys).isSubset(of: fields))
        #expect(fields.subtracting(Schemas.check.fields.map(\.name)) == ["every_s", "enabled"])
        let decoded = try JSONDecoder().decode(ScheduledCheck.self, from: JSONEncoder().encode(check))
        #expect(decoded == check)
    }

    @Test("the Check schema names ProbeSpec's keys, and each kind's parameters")
    func checkSchemaIsTheModel() throws {
        var spec = ProbeSpec(kind: "http", target: "https://example.org/")
        if case .http(var p) = spec.parameters { p.body = "x"; p.caFile = nil; spec.parameters = .http(p) }
        spec.name = "n"
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(spec)) as? [String: Any] ?? [:]
        let fields = Set(Schemas.check.fields.map(\.name))
        #expect(Set(encoded.keys).isSubset(of: fields))
        #expect(fields.subtracting(encoded.keys) == ["icmp", "tcp", "udp"])
        for kind in ["icmp", "tcp", "udp", "http"] {
            guard case .object(let schema)? = Schemas.check.fields.first(where: { $0.name == kind })?.schema else {
                Issue.record("no \(kind) parameters"); continue
            }
            var s = ProbeSpec(kind: kind, target: "x")
            if case .http(var p) = s.parameters { p.body = "x"; s.parameters = .http(p) }
            let keys = ((try JSONSerialization.jsonObject(with: JSONEncoder().encode(s)) as? [String: Any])?[kind] as? [String: Any])?.keys
            // http's ca_file is left out on purpose: the server reads no files for a caller.
            #expect(Set(keys.map(Array.init) ?? []).subtracting(["ttl"]) == Set(schema.fields.map(\.name)).subtracting(["ttl"]), "\(kind)")
        }
    }

    /// A body with every optional field left out encodes without them; a PATCH body keeps
    /// "absent" apart from "null" both ways.
    @Test("patch bodies keep absent apart from null")
    func patches() throws {
        let decoder = JSONDecoder()
        let absent = try decoder.decode(UpdateUserRequest.self, from: Data(#"{"role":"user"}"#.utf8))
        let null = try decoder.decode(UpdateUserRequest.self, from: Data(#"{"email":null}"#.utf8))
        #expect(absent.email == .absent && null.email == .null)
        let text = String(decoding: try JSONResponse.encoder.encode(null), as: UTF8.self)
        #expect(text == #"{"email":null}"#)
        #expect(String(decoding: try JSONResponse.encoder.encode(absent), as: UTF8.self) == #"{"role":"user"}"#)
    }

    @Test("timestamps are ISO 8601 UTC with milliseconds, both ways")
    func timestamps() throws {
        let stamp = APITimestamp(millis: 1_764_691_269_123)
        let text = String(decoding: try JSONEncoder().encode(stamp), as: UTF8.self)
        #expect(text == #""2025-12-02T16:01:09.123Z""#)
        #expect(try JSONDecoder().decode(APITimestamp.self, from: Data(text.utf8)) == stamp)
    }
}
