import ProbeModel
import Hummingbird

/// One REST operation: the single declaration the router, the authorisation check, the OpenAPI
/// document and the tests all read.
public struct APIOperation: Sendable {
    public let id: String
    public let method: HTTPRequest.Method
    /// OpenAPI path template, e.g. `/api/v1/users/{id}`.
    public let path: String
    public let permission: Permission
    public let tag: String
    public let summary: String
    public let request: ObjectSchema?
    public let response: ObjectSchema?
    public let successStatus: Int
    /// Largest request body accepted (413 beyond).
    public let maxBody: Int
    /// Query parameters: checked before the handler runs (`QueryParameters`); unknown ones are ignored.
    public let query: [Field]
    /// Statuses this operation answers besides the success status and the ones every operation
    /// of its kind may answer (see `OpenAPIDocument`): a 2xx here carries the response schema too.
    public let statuses: [Int]
    /// Path parameters that are not row ids (`{test_id}`, `{kind}`): their schemas. Any other
    /// is an id, an integer from 1.
    public let pathSchemas: [String: JSONSchema]
    /// Request headers the operation reads (`Idempotency-Key`, `If-None-Match`); the handler
    /// checks them.
    public let headers: [Field]
    /// The request body may be left out (`request` describes it when sent).
    public let optionalBody: Bool

    init(_ id: String, _ method: HTTPRequest.Method, _ path: String, _ permission: Permission, tag: String, _ summary: String,
         request: ObjectSchema? = nil, response: ObjectSchema? = nil, status: Int = 200, maxBody: Int = 64 << 10, query: [Field] = [],
         statuses: [Int] = [], pathSchemas: [String: JSONSchema] = [:], headers: [Field] = [],
         optionalBody: Bool = false) {
        self.id = id
        self.optionalBody = optionalBody
        self.headers = headers
        self.pathSchemas = pathSchemas
        self.method = method
        self.path = path
        self.permission = permission
        self.tag = tag
        self.summary = summary
        self.request = request
        self.response = response
        self.successStatus = status
        self.maxBody = maxBody
        self.query = query
        self.statuses = statuses
    }

    /// The same path in Hummingbird's syntax (`{id}` → `:id`).
    var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.joined(separator: "/")
    }

    var pathParameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
}

/// Schemas of request and response bodies.
enum Schemas {
    static let username = JSONSchema.string(maxLength: 64, minLength: 3, pattern: "[A-Za-z0-9._@+-]+")
    static let password = JSONSchema.string(maxLength: 256, minLength: 1)
    /// A password being set: `PasswordPolicy`'s length bounds (its other rules answer 400).
    static let newPassword = JSONSchema.string(maxLength: PasswordPolicy.maximumBytes, minLength: PasswordPolicy.minimumLength)
    /// A page position this API returned: a row id.
    static let cursor = JSONSchema.string(maxLength: 16, minLength: 1, pattern: "[1-9][0-9]{0,15}")
    static let email = JSONSchema.string(maxLength: 255, minLength: 3, pattern: "[^@\\s]+@[^@\\s]+")
    static let role = JSONSchema.string(maxLength: 32, values: Role.allCases.map(\.rawValue))
    static let id = JSONSchema.integer(minimum: 1)
    static let totp = JSONSchema.string(maxLength: 6, minLength: 6, pattern: "[0-9]{6}")
    static let timestamp = JSONSchema.string(maxLength: 40, format: "date-time")

    static let login = ObjectSchema("LoginRequest", [
        Field("username", .string(maxLength: 255, minLength: 1), required: true),
        Field("password", password, required: true),
        Field("mfa_code", totp, "required when the account has MFA enabled"),
        Field("session", .boolean, "also start a cookie session for the web UI (returns a CSRF token)"),
    ])
    static let loginResponse = ObjectSchema("LoginResponse", strict: false, [
        Field("token", .string(), "HS256 JWT for `Authorization: Bearer`; absent when a cookie session was started (the cookie is the credential)"),
        Field("token_type", .string(values: ["Bearer"]), "with token"),
        Field("expires_in", .integer(), required: true, "seconds, of the token or of the session"),
        Field("csrf_token", .string(), "present when a cookie session was started"),
        Field("user", .object(user), required: true),
        Field("password_change_required", .boolean, required: true,
              "the one-time password must be changed (POST /api/v1/auth/password) before any other route answers"),
    ])
    static let user = ObjectSchema("User", strict: false, [
        Field("id", id, required: true), Field("username", username, required: true), Field("email", .nullable(email), required: true),
        Field("role", role, required: true), Field("ou_id", .nullable(id), required: true), Field("active", .boolean, required: true),
        Field("mfa_enabled", .boolean, required: true), Field("created_at", timestamp, required: true),
        Field("last_login_at", .nullable(timestamp), required: true),
    ])
    static let userList = ObjectSchema("UserList", strict: false, [
        Field("users", .array(of: .object(user)), required: true), Field("total", .integer(), required: true),
        Field("limit", .integer(), required: true), Field("offset", .integer(), required: true),
    ])
    static let createUser = ObjectSchema("CreateUserRequest", [
        Field("username", username, required: true), Field("password", newPassword, required: true),
        Field("email", .nullable(email)), Field("role", role), Field("ou_id", .nullable(id)), Field("active", .boolean),
    ])
    static let updateUser = ObjectSchema("UpdateUserRequest", [
        Field("email", .nullable(email)), Field("role", role), Field("ou_id", .nullable(id)), Field("active", .boolean),
    ])
    static let setPassword = ObjectSchema("SetPasswordRequest", [Field("password", newPassword, required: true)])
    static let changePassword = ObjectSchema("ChangePasswordRequest", [
        Field("current_password", password, required: true), Field("new_password", newPassword, required: true),
        Field("mfa_code", totp, "required when the account has MFA"),
    ])
    static let mfaSetup = ObjectSchema("MFASetupResponse", strict: false, [
        Field("secret", .string(), required: true, "base32, shown once"), Field("otpauth_uri", .string(), required: true, "encode as a QR code"),
    ])
    static let mfaSetupRequest = ObjectSchema("MFASetupRequest", [Field("password", password, required: true, "your current password")])
    static let mfaCode = ObjectSchema("MFACodeRequest", [Field("code", totp, required: true)])
    static let mfaDisable = ObjectSchema("MFADisableRequest", [Field("password", password, required: true), Field("code", totp, required: true)])
    static let message = ObjectSchema("Message", strict: false, [Field("message", .string(), required: true)])
    static let revokedCounts = ObjectSchema("RevokedCredentials", strict: false, [
        Field("tokens", .integer(minimum: 0), required: true), Field("sessions", .integer(minimum: 0), required: true),
        Field("api_keys", .integer(minimum: 0), required: true),
    ])
    static let revocation = ObjectSchema("Revocation", strict: false, [
        Field("message", .string(), required: true),
        Field("revoked", .object(revokedCounts), required: true, "what this ended: every token, session and API key of the user"),
    ])
    static let ou = ObjectSchema("OrganizationUnit", strict: false, [
        Field("id", id, required: true), Field("parent_id", .nullable(id), required: true), Field("name", .string(), required: true),
        Field("description", .string(), required: true), Field("created_at", timestamp, required: true),
    ])
    static let ouList = ObjectSchema("OrganizationUnitList", strict: false, [Field("organization_units", .array(of: .object(ou)), required: true)])
    static let ouTreeNode = ObjectSchema("OrganizationUnitTreeNode", strict: false, ou.fields + [
        Field("children", .array(of: .named("OrganizationUnitTreeNode")), required: true, "units directly below, as nodes"),
    ])
    static let ouTree = ObjectSchema("OrganizationUnitTree", strict: false, [Field("roots", .array(of: .object(ouTreeNode)), required: true,
                                                                                  "units whose parent is outside your scope (or none), with nested `children`")])
    static let createOU = ObjectSchema("CreateOrganizationUnitRequest", [
        Field("name", .string(maxLength: 128, minLength: 1), required: true), Field("description", .string(maxLength: 1024)),
        Field("parent_id", .nullable(id)),
    ])
    static let updateOU = ObjectSchema("UpdateOrganizationUnitRequest", [
        Field("name", .string(maxLength: 128, minLength: 1)), Field("description", .string(maxLength: 1024)), Field("parent_id", .nullable(id)),
    ])
    static let apiKey = ObjectSchema("APIKey", strict: false, [
        Field("id", id, required: true), Field("name", .string(), required: true), Field("prefix", .string(), required: true),
        Field("created_at", timestamp, required: true), Field("last_used_at", .nullable(timestamp), required: true), Field("revoked_at", .nullable(timestamp), required: true),
        Field("key", .string(), "64 hex characters; only in the creation response"),
    ])
    static let apiKeyList = ObjectSchema("APIKeyList", strict: false, [Field("api_keys", .array(of: .object(apiKey)), required: true)])
    static let createServerKey = ObjectSchema("CreateServerKeyRequest", [
        Field("name", .string(maxLength: 128, minLength: 1), required: true),
        Field("ou_id", .nullable(id), "bind the key to this unit's subtree: it uploads only there, for devices there; absent: any unit"),
    ])
    static let createAPIKey = ObjectSchema("CreateAPIKeyRequest", [
        Field("name", .string(maxLength: 128, minLength: 1), required: true),
        Field("password", password, required: true, "the caller's current password (fresh authentication)"),
        Field("mfa_code", totp, "the caller's current TOTP code; required when the caller has MFA"),
    ])
    static let serverKey = ObjectSchema("ServerKey", strict: false, [
        Field("id", id, required: true), Field("name", .string(), required: true), Field("prefix", .string(), required: true),
        Field("ou_id", .nullable(id), required: true, "the unit whose subtree it uploads to; null: any"),
        Field("created_at", timestamp, required: true), Field("last_used_at", .nullable(timestamp), required: true),
        Field("revoked_at", .nullable(timestamp), required: true),
        Field("key", .string(), "send as X-Manager-Key; only in the creation response"),
    ])
    static let serverKeyList = ObjectSchema("ServerKeyList", strict: false, [Field("server_keys", .array(of: .object(serverKey)), required: true)])
    static let result = result(metrics: ResultMetrics.declared, testTypes: KindCatalog.builtIn.testTypes)
    /// The upload's result schema: the fixed fields, then one per stored metric the kinds declare.
    static func result(metrics: [StoredMetric], testTypes: [String]) -> ObjectSchema { ObjectSchema("TestResult", [
        Field("test_type", .string(maxLength: 32, values: testTypes), required: true),
        Field("protocol_detail", .string(maxLength: 64)),
        Field("target", .string(maxLength: 255, minLength: 1), required: true),
        Field("resolved_address", .nullable(.string(maxLength: 64))),
        Field("outcome", .string(maxLength: 32, minLength: 1, pattern: "[a-z_]+(\\([0-9,]+\\))?"), required: true, "success, timeout, refused, unreachable(3,1), error, ..."),
        Field("success", .boolean, required: true),
        Field("created_at", .integer(minimum: 0), "milliseconds since the epoch; defaults to receipt time"),
        Field("sent", .nullable(.integer(minimum: 0))), Field("received", .nullable(.integer(minimum: 0))),
    ] + metrics.map { metric in
        Field(metric.name, .nullable(.number(minimum: 0, maximum: metric.maximum)), metric.summary)
    } + [
        Field("device_id", .nullable(id)),
        Field("raw", .freeform, "the kind-specific part of the result document (`details`, `hops`), stored as JSON"),
    ]) }
    static let resultUpload = ObjectSchema("ResultUpload", [
        Field("results", .array(of: .object(result), maxItems: 10_000, minItems: 1), required: true),
        Field("ou_id", .nullable(id), "for server keys: the OU the results belong to"),
    ])
    static let speedUpload = ObjectSchema("SpeedUpload", strict: false, [
        Field("bytes", .integer(minimum: 0), required: true, "body bytes the server read"),
        Field("duration_ms", .number(), required: true, "from the request's headers to its last byte"),
        Field("read_ms", .number(), required: true, "from the first body byte to the last"),
    ])
    static let resultAck = ObjectSchema("ResultAck", strict: false, [
        Field("accepted", .integer(), required: true), Field("last_id", .integer(), required: true, "all rows are committed at or below this id"),
    ])
    static let storedResult = ObjectSchema("StoredResult", strict: false, result.fields + [
        Field("id", id, required: true), Field("user_id", .nullable(id)), Field("ou_id", .nullable(id)),
    ])
    static let resultPage = ObjectSchema("ResultPage", strict: false, [
        Field("results", .array(of: .object(storedResult)), required: true),
        Field("next_cursor", .nullable(.string()), required: true, "pass as `cursor` for the next page"),
    ])
    static let statisticsGroup = ObjectSchema("StatisticsGroup", strict: false, [
        Field("key", .nullable(.string()), required: true, "test type, target, device id (null: no device) or bucket start in ms"),
        Field("start", timestamp, "time groups: the bucket's start"),
        Field("count", .integer(), required: true), Field("successes", .integer(), required: true),
        Field("success_rate", .number(), required: true, "0...1"), Field("mean_loss_percent", .nullable(.number()), required: true),
        Field("samples", .integer(), required: true, "rows with a value of the metric; the figures below use only these"),
        Field("mean", .nullable(.number()), required: true), Field("min", .nullable(.number()), required: true),
        Field("max", .nullable(.number()), required: true), Field("p10", .nullable(.number()), required: true, "nearest-rank percentile"),
        Field("p25", .nullable(.number()), required: true), Field("p50", .nullable(.number()), required: true),
        Field("p75", .nullable(.number()), required: true), Field("p90", .nullable(.number()), required: true), Field("p99", .nullable(.number()), required: true),
    ])
    static let seriesEntry = ObjectSchema("Series", strict: false, [
        Field("test_type", .string(), required: true), Field("target", .string(), required: true),
        Field("device_id", .nullable(id), required: true, "null: results without a device"),
    ])
    static let seriesList = ObjectSchema("SeriesList", strict: false, [Field("series", .array(of: .object(seriesEntry)), required: true)])
    static let statistics = ObjectSchema("Statistics", strict: false, [
        Field("group_by", .string(), required: true), Field("metric", .string(), required: true),
        Field("since", .integer(minimum: 0), required: true, "the window's start (ms since the epoch, inclusive)"),
        Field("until", .integer(minimum: 0), required: true, "the window's end (ms since the epoch, exclusive)"),
        Field("groups", .array(of: .object(statisticsGroup)), required: true),
    ])
    static let deviceStatus = JSONSchema.string(maxLength: 16, values: DeviceStatus.allCases.map(\.rawValue))
    static let device = ObjectSchema("Device", strict: false, [
        Field("id", id, required: true), Field("serial", .string(), required: true), Field("hostname", .string(), required: true),
        Field("os", .string(), required: true), Field("os_version", .string(), required: true), Field("client_type", .string(), required: true),
        Field("client_version", .string(), required: true), Field("ou_id", id, required: true), Field("active", .boolean, required: true),
        Field("status", deviceStatus, required: true, "online < 5 min, recent < 1 h, offline < 24 h, stale beyond or never seen"),
        Field("enrolled_at", timestamp, required: true), Field("enrolled_address", .string(), required: true),
        Field("last_seen_at", .nullable(timestamp), required: true),
        Field("agent", .nullable(.object(agentStatus)), required: true, "the agent's state from its last heartbeat; null: it never sent one"),
    ])
    static let deviceList = ObjectSchema("DeviceList", strict: false, [
        Field("devices", .array(of: .object(device)), required: true), Field("total", .integer(), required: true),
        Field("limit", .integer(), required: true), Field("offset", .integer(), required: true),
    ])
    static let deviceSummary = ObjectSchema("DeviceSummary", strict: false, [
        Field("total", .integer(), required: true), Field("active", .integer(), required: true), Field("inactive", .integer(), required: true),
        Field("online", .integer(), required: true), Field("recent", .integer(), required: true), Field("offline", .integer(), required: true),
        Field("stale", .integer(), required: true, "active devices only, in each status"),
    ])
    static let enrollmentSecret = ObjectSchema("EnrollmentSecret", strict: false, [
        Field("id", id, required: true), Field("ou_id", id, required: true), Field("name", .string(), required: true),
        Field("prefix", .string(), required: true), Field("created_at", timestamp, required: true),
        Field("expires_at", .nullable(timestamp), required: true), Field("max_uses", .nullable(.integer()), required: true),
        Field("uses", .integer(), required: true), Field("revoked_at", .nullable(timestamp), required: true),
        Field("secret", .string(), "only in the creation response"),
    ])
    static let enrollmentSecretList = ObjectSchema("EnrollmentSecretList", strict: false, [
        Field("enrollment_secrets", .array(of: .object(enrollmentSecret)), required: true),
    ])
    static let createEnrollmentSecret = ObjectSchema("CreateEnrollmentSecretRequest", [
        Field("ou_id", id, required: true, "devices enrolled with it join this OU"), Field("name", .string(maxLength: 128, minLength: 1), required: true),
        Field("expires_in_seconds", .integer(minimum: 60, maximum: 31_536_000)), Field("max_uses", .integer(minimum: 1, maximum: 1_000_000)),
    ])
    static let enroll = ObjectSchema("EnrollRequest", [
        Field("secret", .string(maxLength: 128, minLength: 1), required: true),
        Field("serial", .string(maxLength: 128, minLength: 1, pattern: "[A-Za-z0-9._:@-]+"), required: true, "stable identity of the device"),
        Field("hostname", .string(maxLength: 255)), Field("os", .string(maxLength: 64)), Field("os_version", .string(maxLength: 64)),
        Field("client_type", .string(maxLength: 32)), Field("client_version", .string(maxLength: 32)),
        Field("current_token", .string(maxLength: 128, minLength: 1), "the device's token: needed to re-enroll a serial that holds one"),
    ])
    static let enrolled = ObjectSchema("Enrollment", strict: false, [
        Field("device", .object(device), required: true),
        Field("token", .string(), required: true, "send as `Authorization: Bearer <token>`; shown once, replaced by re-enrolling"),
    ])
    static let probeSpec = ObjectSchema("ProbeSpec", [
        Field("type", .string(maxLength: 16, values: KindCatalog.builtIn.testTypes), required: true),
        Field("target", .string(maxLength: 255, minLength: 1), required: true), Field("port", .integer(minimum: 1, maximum: 65535)),
        Field("count", .integer(minimum: 1, maximum: 1000)), Field("timeout_ms", .integer(minimum: 1, maximum: 300_000)),
        Field("protocol_detail", .string(maxLength: 64)), Field("enabled", .boolean),
    ])
    static let clientConfigDocument = ObjectSchema("ClientConfigDocument", [
        Field("interval_seconds", .integer(minimum: 10, maximum: 86_400), required: true, "how often a device runs its tests"),
        Field("jitter_percent", .integer(minimum: 0, maximum: 50), "spread of the interval and check-in, ± this percentage"),
        Field("checkin_seconds", .integer(minimum: 60, maximum: 86_400), "how often a device pulls its config (default 900)"),
        Field("tests", .array(of: .object(probeSpec), maxItems: 256), "the original clients' tests, run every interval_seconds"),
        Field("checks", .array(of: .object(scheduledCheck), maxItems: 10_000), "what `waddleperf agent` runs, each check on its own schedule"),
        Field("thresholds", .object(ObjectSchema("Thresholds", [
            Field("latency_ms", .number(minimum: 0)), Field("loss_percent", .number(minimum: 0, maximum: 100)),
        ]))),
    ])
    static let putClientConfig = ObjectSchema("PutClientConfigRequest", [
        Field("name", .string(maxLength: 128, minLength: 1), required: true), Field("config", .object(clientConfigDocument), required: true),
    ])
    static let clientConfig = ObjectSchema("ClientConfig", strict: false, [
        Field("ou_id", .nullable(id), required: true, "null: the default config"), Field("name", .string(), required: true),
        Field("config", .object(clientConfigDocument), required: true), Field("updated_at", timestamp, required: true),
        Field("updated_by", .nullable(id), required: true),
    ])
    static let clientConfigList = ObjectSchema("ClientConfigList", strict: false, [Field("configs", .array(of: .object(clientConfig)), required: true)])
    static let deviceConfig = ObjectSchema("DeviceConfig", strict: false, [
        Field("config", .nullable(.object(clientConfigDocument)), required: true, "null when neither the OU, its ancestors nor the default has one"),
        Field("name", .nullable(.string()), required: true), Field("source_ou_id", .nullable(id), required: true, "the OU whose config applies; null: the default"),
        Field("next_checkin_seconds", .integer(), required: true, "checkin_seconds ± jitter_percent, so a fleet does not call in at once"),
    ])
    static let heartbeat = ObjectSchema("Heartbeat", strict: false, [
        Field("device_id", id, required: true), Field("last_seen_at", timestamp, required: true),
    ])
    static let auditEntry = ObjectSchema("AuditEntry", strict: false, [
        Field("id", id, required: true), Field("at", timestamp, required: true),
        Field("actor", .string(), required: true, "user:NAME, device:ID, server-key:ID, system or unknown"),
        Field("actor_user_id", .nullable(id), required: true), Field("action", .string(), required: true),
        Field("subject", .string(), required: true), Field("source_address", .string(), required: true),
        Field("outcome", .string(values: ["success", "failure"]), required: true), Field("detail", .string(), required: true),
    ])
    static let audit = ObjectSchema("AuditPage", strict: false, [
        Field("entries", .array(of: .object(auditEntry)), required: true),
        Field("next_cursor", .nullable(.string()), required: true, "pass as `cursor` for the next page"),
    ])
    /// A server-run test's id: 16 hex digits.
    static let testID = JSONSchema.string(maxLength: 16, minLength: 16, pattern: "[0-9a-f]{16}")
    /// `ProbeModel.ProbeSpec`: one check, of any kind the engine runs (docs/checks.md). The
    /// kind's parameters sit under its name. (No `http.ca_file`: the server reads no files for
    /// a caller.)
    static let check = ObjectSchema("Check", [
        Field("kind", .string(maxLength: 32, values: KindCatalog.builtIn.testTypes), required: true),
        Field("target", .string(maxLength: 255, minLength: 1), required: true, "host, address, host:port, [v6]:port; a URL for http"),
        Field("name", .string(maxLength: 255, minLength: 1), "a label for reports"),
        Field("count", .integer(minimum: 1, maximum: 100_000), "probes (default 1)"),
        Field("interval_ms", .integer(minimum: 0, maximum: 86_400_000), "between probes (default 1000; 0: all at once)"),
        Field("timeout_ms", .integer(minimum: 1, maximum: 300_000), "per probe (default 1000)"),
        Field("icmp", .object(ObjectSchema("ICMPParameters", [
            Field("size", .integer(minimum: 16, maximum: 65_000), "payload bytes (default 56)"), Field("ttl", .integer(minimum: 1, maximum: 255)),
        ]))),
        Field("tcp", .object(ObjectSchema("TCPParameters", [
            Field("send", .integer(minimum: 0, maximum: 65_000), "bytes sent once connected"),
            Field("expect", .integer(minimum: 0, maximum: 65_000), "reply bytes read before the probe counts"),
        ]))),
        Field("udp", .object(ObjectSchema("UDPParameters", [Field("size", .integer(minimum: 16, maximum: 65_000), "datagram bytes (default 56)")]))),
        Field("http", .object(ObjectSchema("HTTPParameters", [
            Field("method", .string(maxLength: 32, minLength: 1, pattern: "[!#$%&'*+.^_`|~0-9A-Za-z-]+"), "default GET"),
            Field("headers", .freeform, "name: value"), Field("body", .string(maxLength: 1 << 20)),
            Field("version", .string(maxLength: 4, values: HTTPParameters.Version.allCases.map(\.rawValue)), "1.1 (default), 2, 3 or auto"),
            Field("expect_status", .array(of: .integer(minimum: 100, maximum: 599), maxItems: 2, minItems: 2), "[low, high], default [200, 399]"),
            Field("max_redirects", .integer(minimum: 0, maximum: 50), "default 10"), Field("insecure", .boolean, "accept any certificate"),
        ]))),
    ])
    static let alertSelector = ObjectSchema("AlertSelector", [
        Field("device_id", id, "one device's results"), Field("test_type", .string(maxLength: 32, values: KindCatalog.builtIn.testTypes)),
        Field("target", .string(maxLength: 255, minLength: 1), "as the results name it"),
    ])
    static let alertWebhook = ObjectSchema("AlertWebhook", [
        Field("url", .string(maxLength: 2048, minLength: 8, pattern: "https?://[!-~]+"), required: true,
              "POSTed on firing and on resolve; checked against the target policy unless its creator may reach internal addresses"),
        Field("format", .string(maxLength: 8, values: AlertRule.WebhookFormat.allCases.map(\.rawValue)), "json (default) or slack ({\"text\": ...})"),
    ])
    static let alertRuleRequest = ObjectSchema("AlertRuleRequest", [
        Field("name", .string(maxLength: 128, minLength: 1), required: true),
        Field("ou_id", .nullable(id), "the unit whose subtree's results it watches; absent or null: every unit (global administrators only)"),
        Field("metric", .string(maxLength: 64, values: AlertRule.metrics), required: true, "a stored metric, or success_rate (0-100)"),
        Field("aggregation", .string(maxLength: 8, values: AlertRule.Aggregation.allCases.map(\.rawValue)), "over the window (default avg; success_rate ignores it: it is the share of successful results)"),
        Field("window_s", .integer(minimum: 10, maximum: 86_400), required: true, "the results of the last window_s seconds"),
        Field("comparison", .string(maxLength: 2, values: AlertRule.Comparison.allCases.map(\.rawValue)), required: true),
        Field("threshold", .number(minimum: -1e12, maximum: 1e12), required: true),
        Field("for_s", .integer(minimum: 0, maximum: 86_400), "how long the condition holds before firing (default 0)"),
        Field("selector", .object(alertSelector), "which results, within the unit"),
        Field("webhook", .object(alertWebhook)),
        Field("enabled", .boolean, "default true"),
    ])
    static let alertRule = ObjectSchema("AlertRule", strict: false, [
        Field("id", id, required: true), Field("ou_id", .nullable(id), required: true), Field("name", .string(), required: true),
        Field("metric", .string(), required: true), Field("aggregation", .string(), required: true), Field("window_s", .integer(), required: true),
        Field("comparison", .string(), required: true), Field("threshold", .number(), required: true), Field("for_s", .integer(), required: true),
        Field("selector", .object(alertSelector), required: true), Field("webhook", .nullable(.object(alertWebhook)), required: true),
        Field("enabled", .boolean, required: true), Field("created_by", .nullable(id), required: true),
        Field("created_at", timestamp, required: true), Field("updated_at", timestamp, required: true),
    ])
    static let alertRuleList = ObjectSchema("AlertRuleList", strict: false, [Field("rules", .array(of: .object(alertRule)), required: true)])
    static let alertSeries = ObjectSchema("AlertSeries", strict: false, [
        Field("device_id", .nullable(id), required: true), Field("test_type", .string(), required: true), Field("target", .string(), required: true),
    ])
    static let alert = ObjectSchema("Alert", strict: false, [
        Field("rule_id", id, required: true), Field("rule_name", .string(), required: true), Field("series", .object(alertSeries), required: true),
        Field("state", .string(values: ["pending", "firing"]), required: true), Field("since", timestamp, required: true),
        Field("value", .nullable(.number()), required: true, "the rule's figure at the last evaluation"),
        Field("evaluated_at", timestamp, required: true),
    ])
    static let alertList = ObjectSchema("AlertList", strict: false, [Field("alerts", .array(of: .object(alert)), required: true)])
    static let alertTransition = ObjectSchema("AlertTransition", strict: false, [
        Field("id", id, required: true), Field("rule_id", id, required: true), Field("series", .object(alertSeries), required: true),
        Field("from", .string(values: AlertState.allCases.map(\.rawValue)), required: true),
        Field("to", .string(values: ["pending", "firing", "resolved", "inactive"]), required: true),
        Field("value", .nullable(.number()), required: true), Field("at", timestamp, required: true),
    ])
    static let alertTransitionList = ObjectSchema("AlertTransitionList", strict: false, [
        Field("transitions", .array(of: .object(alertTransition)), required: true),
    ])
    static let alertNotification = ObjectSchema("AlertNotification", strict: false, [
        Field("id", id, required: true), Field("rule_id", id, required: true), Field("transition_id", id, required: true),
        Field("series", .object(alertSeries), required: true), Field("kind", .string(values: ["firing", "resolved"]), required: true),
        Field("status", .string(values: AlertNotification.Status.allCases.map(\.rawValue)), required: true, "dead: every attempt failed (the dead letter)"),
        Field("attempts", .integer(minimum: 0), required: true), Field("last_error", .nullable(.string()), required: true),
        Field("created_at", timestamp, required: true), Field("delivered_at", .nullable(timestamp), required: true),
    ])
    static let alertNotificationList = ObjectSchema("AlertNotificationList", strict: false, [
        Field("notifications", .array(of: .object(alertNotification)), required: true),
    ])
    /// `ProbeModel.ScheduledCheck`: a check and how often an agent runs it.
    static let scheduledCheck = ObjectSchema("ScheduledCheck", check.fields + [
        Field("every_s", .number(minimum: 1, maximum: 86_400), required: true,
              "seconds between runs; a run ((count - 1) × interval_ms + timeout_ms) must fit in it"),
        Field("enabled", .boolean, "false keeps the check without running it (default true)"),
    ])
    static let agentStatus = ObjectSchema("AgentStatus", [
        Field("version", .string(maxLength: 32)),
        Field("checks_configured", .integer(minimum: 0)), Field("checks_running", .integer(minimum: 0), "runs in progress now"),
        Field("runs", .integer(minimum: 0), "runs started since the agent started"),
        Field("skipped_runs", .integer(minimum: 0), "slots skipped because the check's previous run had not ended"),
        Field("buffer_results", .integer(minimum: 0), "results waiting to be uploaded"),
        Field("buffer_bytes", .integer(minimum: 0)),
        Field("buffer_oldest_ms", .nullable(.integer(minimum: 0)), "age of the oldest buffered result"),
        Field("dropped_results", .integer(minimum: 0), "results dropped because the buffer was full or too old, since the buffer was made"),
        Field("last_upload_at", .nullable(.integer(minimum: 0)), "ms since the epoch of the last acknowledged upload"),
        Field("config_error", .nullable(.string(maxLength: 1024)), "why the last configuration from the server was refused (the previous one keeps running)"),
    ])
    static let testProgress = ObjectSchema("TestProgress", strict: false, [
        Field("sent", .integer(minimum: 0), required: true), Field("received", .integer(minimum: 0), required: true),
        Field("expected", .integer(minimum: 0), required: true, "probes the test sends in all"),
        Field("elapsed_ms", .integer(minimum: 0), required: true), Field("viewers", .integer(minimum: 0), required: true, "streams watching"),
    ])
    static let test = ObjectSchema("Test", strict: false, [
        Field("id", testID, required: true), Field("status", .string(values: ["running", "completed", "cancelled", "failed"]), required: true),
        Field("check", .object(check), required: true), Field("created_at", timestamp, required: true),
        Field("finished_at", .nullable(timestamp), required: true), Field("user_id", .nullable(id), required: true),
        Field("ou_id", .nullable(id), required: true), Field("progress", .object(testProgress), required: true),
        Field("result", .nullable(.object(ObjectSchema("TestResultDocument", strict: false, result.fields))), required: true,
              "the result document once finished (also stored: GET /api/v1/results)"),
        Field("stored", .boolean, required: true, "the result is committed to the store"),
        Field("error", .nullable(.string()), required: true), Field("cancelled_by", .nullable(.string()), required: true),
        Field("stream", .string(), required: true, "WebSocket path of the live stream"),
    ])
    static let testList = ObjectSchema("TestList", strict: false, [Field("tests", .array(of: .object(test)), required: true)])
    /// The original test server's request (`POST /api/v1/test/{kind}`); docs/test-server.md maps
    /// each field.
    static let legacyTest = ObjectSchema("LegacyTestRequest", [
        Field("target", .string(maxLength: 255, minLength: 1), required: true),
        Field("protocol", .string(maxLength: 32, minLength: 1), "http: http1 / http2 (default) / http3; tcp: raw (default); udp: raw; icmp: ping (default)"),
        Field("protocol_detail", .string(maxLength: 32, minLength: 1), "the same as protocol"),
        Field("port", .integer(minimum: 1, maximum: 65_535)),
        Field("timeout", .integer(minimum: 1, maximum: 300), "seconds per probe"),
        Field("count", .integer(minimum: 1, maximum: 1000)),
        Field("method", .string(maxLength: 16, values: ["GET", "POST", "HEAD", "OPTIONS"])),
        Field("query", .string(maxLength: 255), "DNS: no DNS kind yet (501)"),
        Field("device_serial", .string(maxLength: 255), "accepted and ignored (the caller's credential says who measured)"),
        Field("device_hostname", .string(maxLength: 255)), Field("device_os", .string(maxLength: 255)),
        Field("device_os_version", .string(maxLength: 255)),
    ])
    static let legacyTestResponse = ObjectSchema("LegacyTestResponse", strict: false, [
        Field("target", .string(), required: true), Field("protocol", .string(), required: true), Field("success", .boolean, required: true),
        Field("latency_ms", .number(), "mean of the answered probes"), Field("min_latency_ms", .number()), Field("max_latency_ms", .number()),
        Field("jitter_ms", .number(), "mean absolute difference of consecutive answered probes' latencies"),
        Field("error", .nullable(.string())),
    ])
    static let health = ObjectSchema("Health", strict: false, [Field("status", .string(), required: true)])
    static let ready = ObjectSchema("Ready", strict: false, [
        Field("status", .string(), required: true), Field("store", .string(values: ["sqlite", "mariadb"]), required: true),
    ])
}

/// Every route of the control plane.
public enum API {
    static let limitQuery = Field("limit", .integer(minimum: 1, maximum: 1000))
    static let offsetQuery = Field("offset", .integer(minimum: 0, maximum: Int64(Int32.max)))
    /// The result filters of the listing and the statistics.
    static let resultFilters = [Field("test_type", .string(maxLength: 32)), Field("target", .string(maxLength: 255)), Field("device_id", Schemas.id),
                                Field("since", .integer(minimum: 0), "milliseconds since the epoch"),
                                Field("until", .integer(minimum: 0), "milliseconds since the epoch")]

    public static let operations: [APIOperation] = [
        APIOperation("health", .get, "/health", .none, tag: "system", "Liveness", response: Schemas.health),
        APIOperation("ready", .get, "/ready", .none, tag: "system", "Readiness: the database answers", response: Schemas.ready),
        APIOperation("openapi", .get, "/api/v1/openapi.json", .none, tag: "system", "This document"),

        APIOperation("login", .post, "/api/v1/auth/login", .none, tag: "auth", "Log in with username, password and (if enabled) a TOTP code",
                  request: Schemas.login, response: Schemas.loginResponse, statuses: [401]),
        APIOperation("logout", .post, "/api/v1/auth/logout", .authenticated, tag: "auth", "Revoke this token or session", response: Schemas.message),
        APIOperation("whoami", .get, "/api/v1/auth/whoami", .authenticated, tag: "auth", "The calling user", response: Schemas.user),
        APIOperation("changePassword", .post, "/api/v1/auth/password", .authenticated, tag: "auth",
                  "Change your own password with the current one (and a TOTP code with MFA); revokes your tokens, sessions and API keys",
                  request: Schemas.changePassword, response: Schemas.revocation),
        APIOperation("mfaSetup", .post, "/api/v1/auth/mfa/setup", .authenticated, tag: "auth",
                  "Start TOTP setup with your current password: returns the secret once",
                  request: Schemas.mfaSetupRequest, response: Schemas.mfaSetup, statuses: [409]),
        APIOperation("mfaVerify", .post, "/api/v1/auth/mfa/verify", .authenticated, tag: "auth", "Enable MFA with a code from the new secret",
                  request: Schemas.mfaCode, response: Schemas.message),
        APIOperation("mfaDisable", .post, "/api/v1/auth/mfa/disable", .authenticated, tag: "auth", "Disable MFA (password and a current code)",
                  request: Schemas.mfaDisable, response: Schemas.message),

        APIOperation("listUsers", .get, "/api/v1/users", .usersRead, tag: "users", "Users in your scope, paged, searchable",
                  response: Schemas.userList, query: [limitQuery, offsetQuery, Field("search", .string(maxLength: 64)), Field("role", Schemas.role)]),
        APIOperation("createUser", .post, "/api/v1/users", .usersWrite, tag: "users", "Create a user (role no higher than yours, OU in your scope)",
                  request: Schemas.createUser, response: Schemas.user, status: 201),
        APIOperation("getUser", .get, "/api/v1/users/{id}", .usersRead, tag: "users", "One user", response: Schemas.user),
        APIOperation("updateUser", .patch, "/api/v1/users/{id}", .usersWrite, tag: "users", "Change email, role, OU or active flag",
                  request: Schemas.updateUser, response: Schemas.user),
        APIOperation("deleteUser", .delete, "/api/v1/users/{id}", .usersWrite, tag: "users", "Delete a user", status: 204),
        APIOperation("setUserPassword", .put, "/api/v1/users/{id}/password", .usersWrite, tag: "users",
                  "Reset another user's password (a role above theirs); revokes their tokens, sessions and API keys. Your own: /api/v1/auth/password",
                  request: Schemas.setPassword, response: Schemas.revocation),
        APIOperation("resetUserMFA", .delete, "/api/v1/users/{id}/mfa", .usersWrite, tag: "users",
                  "Turn off another user's MFA (a role above theirs), e.g. after a lost authenticator; audited. Your own: /api/v1/auth/mfa/disable",
                  status: 204),
        APIOperation("revokeUserTokens", .post, "/api/v1/users/{id}/revoke-tokens", .usersWrite, tag: "users", "Revoke every token and session of a user",
                  response: Schemas.revocation),
        APIOperation("listAPIKeys", .get, "/api/v1/users/{id}/api-keys", .authenticated, tag: "api-keys", "API keys of a user (yourself, or as their admin)",
                  response: Schemas.apiKeyList),
        APIOperation("createAPIKey", .post, "/api/v1/users/{id}/api-keys", .authenticated, tag: "api-keys",
                  "Issue an API key (your password, and TOTP with MFA); the key is shown once",
                  request: Schemas.createAPIKey, response: Schemas.apiKey, status: 201),
        APIOperation("revokeAPIKey", .delete, "/api/v1/users/{id}/api-keys/{key_id}", .authenticated, tag: "api-keys", "Revoke an API key", status: 204),

        APIOperation("listOUs", .get, "/api/v1/ous", .ousRead, tag: "organization-units", "Organisation units in your scope", response: Schemas.ouList),
        APIOperation("ouTree", .get, "/api/v1/ous/tree", .ousRead, tag: "organization-units", "Your scope as a tree", response: Schemas.ouTree),
        APIOperation("createOU", .post, "/api/v1/ous", .ousWrite, tag: "organization-units", "Create a unit (under one in your scope)",
                  request: Schemas.createOU, response: Schemas.ou, status: 201),
        APIOperation("getOU", .get, "/api/v1/ous/{id}", .ousRead, tag: "organization-units", "One unit", response: Schemas.ou),
        APIOperation("updateOU", .patch, "/api/v1/ous/{id}", .ousWrite, tag: "organization-units", "Rename, describe or move a unit",
                  request: Schemas.updateOU, response: Schemas.ou),
        APIOperation("deleteOU", .delete, "/api/v1/ous/{id}", .ousWrite, tag: "organization-units", "Delete an empty unit", status: 204,
                  statuses: [409]),

        APIOperation("uploadResults", .post, "/api/v1/results", .resultsWrite, tag: "results",
                  "Upload a batch of results; answered after the batch is committed. With an Idempotency-Key, a batch sent again "
                  + "(after a lost answer) is stored once: the retry gets the first answer, 200 with Idempotent-Replayed: true",
                  request: Schemas.resultUpload, response: Schemas.resultAck,
                  status: 201, maxBody: 16 << 20, statuses: [200, 422],
                  headers: [Field("Idempotency-Key", .string(maxLength: 128, minLength: 1, pattern: "[A-Za-z0-9._:-]+"),
                                  "unique per batch and sender; remembered for idempotency_window (7 days); the same key with another body is 422")]),
        APIOperation("listResults", .get, "/api/v1/results", .resultsRead, tag: "results", "Results in your scope, newest first, cursor-paged",
                  response: Schemas.resultPage,
                  query: [limitQuery, Field("cursor", Schemas.cursor)] + resultFilters),

        APIOperation("statistics", .get, "/api/v1/statistics", .resultsRead, tag: "results",
                  "Aggregates over results in your scope, computed in SQL: count, success rate, loss and a metric's mean/min/max/p10/p25/p50/p75/p90/p99. "
                  + "The window is since..until: until defaults to now, since to until minus statistics_window (24 h); "
                  + "a longer window is narrowed to the last statistics_max_window (92 days) before until. "
                  + "The answer's since and until say what was covered",
                  response: Schemas.statistics,
                  query: [Field("group_by", .string(values: ["test_type", "target", "device", "time"]), "default test_type"),
                          Field("bucket", .integer(minimum: 1, maximum: 2_592_000), "seconds per time bucket (group_by=time; default 3600; checked but unused for other groupings)"),
                          Field("metric", .string(values: StatisticsQuery.metrics), "default latency_ms"),
                          Field("limit", .integer(minimum: 1, maximum: 10_000), "groups returned (default 100)"),
                         ] + resultFilters),

        APIOperation("listSeries", .get, "/api/v1/series", .resultsRead, tag: "results",
                  "The series (test type, target, device) results in your scope were stored under, ordered by test type and target: "
                  + "what a dashboard offers to chart. Read from the series table alone, so as fast at 1M results as at 10",
                  response: Schemas.seriesList,
                  query: [Field("test_type", .string(maxLength: 32)), Field("target", .string(maxLength: 255)), Field("device_id", Schemas.id),
                          Field("limit", .integer(minimum: 1, maximum: 10_000), "default 1000")]),
        APIOperation("listDevices", .get, "/api/v1/devices", .devicesRead, tag: "devices", "Enrolled devices in your scope, paged, filtered",
                  response: Schemas.deviceList,
                  query: [limitQuery, offsetQuery, Field("status", Schemas.deviceStatus), Field("active", .boolean),
                          Field("search", .string(maxLength: 128), "substring of serial or hostname"), Field("ou_id", Schemas.id)]),
        APIOperation("deviceSummary", .get, "/api/v1/devices/summary", .devicesRead, tag: "devices", "Device counts by status in your scope",
                  response: Schemas.deviceSummary),
        APIOperation("getDevice", .get, "/api/v1/devices/{id}", .devicesRead, tag: "devices", "One device", response: Schemas.device),
        APIOperation("deactivateDevice", .post, "/api/v1/devices/{id}/deactivate", .devicesWrite, tag: "devices",
                  "Deactivate a device: its token stops working at once", response: Schemas.device),
        APIOperation("reactivateDevice", .post, "/api/v1/devices/{id}/reactivate", .devicesWrite, tag: "devices",
                  "Reactivate a device; it enrolls again to get a new token", response: Schemas.device),
        APIOperation("resetDeviceEnrollment", .post, "/api/v1/devices/{id}/reset-enrollment", .devicesWrite, tag: "devices",
                  "End a device's token; its serial then enrolls again without it (a replaced machine)", response: Schemas.device),
        APIOperation("listEnrollmentSecrets", .get, "/api/v1/enrollment/secrets", .devicesWrite, tag: "enrollment",
                  "Enrollment secrets of the OUs in your scope (never the secret itself)", response: Schemas.enrollmentSecretList),
        APIOperation("createEnrollmentSecret", .post, "/api/v1/enrollment/secrets", .devicesWrite, tag: "enrollment",
                  "Issue an enrollment secret for an OU in your scope; shown once", request: Schemas.createEnrollmentSecret,
                  response: Schemas.enrollmentSecret, status: 201),
        APIOperation("revokeEnrollmentSecret", .delete, "/api/v1/enrollment/secrets/{id}", .devicesWrite, tag: "enrollment",
                  "Revoke an enrollment secret (enrolled devices keep working)", status: 204),
        APIOperation("enroll", .post, "/api/v1/enrollment/enroll", .none, tag: "enrollment",
                  "A device enrolls with a secret and receives its token; the secret decides the OU. 201 new, 200 re-enrolled",
                  request: Schemas.enroll, response: Schemas.enrolled, status: 201, maxBody: 4 << 10, statuses: [200, 401, 403, 409]),
        APIOperation("deviceConfig", .get, "/api/v1/device/config", .device, tag: "devices",
                  "The calling device's config: its OU's, the nearest ancestor's, or the default. Answers an ETag; "
                  + "with If-None-Match and no change since, 304 with no body", response: Schemas.deviceConfig, statuses: [304],
                  headers: [Field("If-None-Match", .string(maxLength: 256), "the ETag of the config the device runs")]),
        APIOperation("deviceHeartbeat", .post, "/api/v1/device/heartbeat", .device, tag: "devices",
                  "The calling device is alive; an agent also reports its state (shown as the device's `agent`). An empty body is accepted",
                  request: Schemas.agentStatus, response: Schemas.heartbeat, maxBody: 4 << 10, optionalBody: true),

        APIOperation("listAlertRules", .get, "/api/v1/alert-rules", .alertsRead, tag: "alerts", "Alert rules of the units in your scope",
                  response: Schemas.alertRuleList),
        APIOperation("createAlertRule", .post, "/api/v1/alert-rules", .alertsWrite, tag: "alerts",
                  "Create an alert rule over the results of a unit in your scope", request: Schemas.alertRuleRequest,
                  response: Schemas.alertRule, status: 201),
        APIOperation("getAlertRule", .get, "/api/v1/alert-rules/{id}", .alertsRead, tag: "alerts", "One alert rule", response: Schemas.alertRule),
        APIOperation("replaceAlertRule", .put, "/api/v1/alert-rules/{id}", .alertsWrite, tag: "alerts",
                  "Replace an alert rule; its series start again from inactive when what it evaluates changed",
                  request: Schemas.alertRuleRequest, response: Schemas.alertRule),
        APIOperation("deleteAlertRule", .delete, "/api/v1/alert-rules/{id}", .alertsWrite, tag: "alerts",
                  "Delete an alert rule with its states, transitions and deliveries", status: 204),
        APIOperation("listAlertTransitions", .get, "/api/v1/alert-rules/{id}/transitions", .alertsRead, tag: "alerts",
                  "A rule's state changes, newest first", response: Schemas.alertTransitionList, query: [limitQuery]),
        APIOperation("listAlerts", .get, "/api/v1/alerts", .alertsRead, tag: "alerts", "Series pending or firing, of the rules in your scope",
                  response: Schemas.alertList, query: [Field("state", .string(maxLength: 8, values: ["pending", "firing"]))]),
        APIOperation("listAlertNotifications", .get, "/api/v1/alert-notifications", .alertsRead, tag: "alerts",
                  "Webhook deliveries of the rules in your scope, newest first; status=dead lists the dead letters",
                  response: Schemas.alertNotificationList,
                  query: [limitQuery, Field("status", .string(maxLength: 10, values: AlertNotification.Status.allCases.map(\.rawValue))),
                          Field("rule_id", Schemas.id)]),

        APIOperation("listConfigs", .get, "/api/v1/configs", .devicesRead, tag: "configs", "Client configs of the OUs in your scope, and the default",
                  response: Schemas.clientConfigList),
        APIOperation("getDefaultConfig", .get, "/api/v1/configs/default", .devicesRead, tag: "configs", "The default client config",
                  response: Schemas.clientConfig, statuses: [404]),
        APIOperation("putDefaultConfig", .put, "/api/v1/configs/default", .configsWrite, tag: "configs",
                  "Replace the default client config (global administrators). 422 names a check its kind cannot take",
                  request: Schemas.putClientConfig, response: Schemas.clientConfig, maxBody: 8 << 20, statuses: [422]),
        APIOperation("getOUConfig", .get, "/api/v1/ous/{id}/config", .devicesRead, tag: "configs", "An OU's own client config",
                  response: Schemas.clientConfig),
        APIOperation("putOUConfig", .put, "/api/v1/ous/{id}/config", .configsWrite, tag: "configs",
                  "Create or replace an OU's client config. 422 names a check its kind cannot take",
                  request: Schemas.putClientConfig, response: Schemas.clientConfig, maxBody: 8 << 20, statuses: [422]),
        APIOperation("deleteOUConfig", .delete, "/api/v1/ous/{id}/config", .configsWrite, tag: "configs",
                  "Remove an OU's config; it inherits again", status: 204),

        APIOperation("listAudit", .get, "/api/v1/audit", .auditRead, tag: "audit", "Security-relevant actions, newest first",
                  response: Schemas.audit, query: [limitQuery, Field("cursor", Schemas.cursor)]),
        APIOperation("createServerKey", .post, "/api/v1/server-keys", .serverKeysWrite, tag: "server-keys",
                  "Issue a server key for X-Manager-Key, optionally bound to an OU; shown once", request: Schemas.createServerKey,
                  response: Schemas.serverKey, status: 201),
        APIOperation("listServerKeys", .get, "/api/v1/server-keys", .serverKeysWrite, tag: "server-keys",
                  "Server keys, revoked ones included (never the key itself)", response: Schemas.serverKeyList),
        APIOperation("revokeServerKey", .delete, "/api/v1/server-keys/{id}", .serverKeysWrite, tag: "server-keys",
                  "Revoke a server key: it stops at once", status: 204),

        APIOperation("createTest", .post, "/api/v1/tests", .testsRun, tag: "tests",
                  "Run a check on this server: 202 with the test; watch it at its stream, read it at /api/v1/tests/{test_id}. "
                  + "Its result is stored like an upload. Limits: see docs/test-server.md (403 beyond the ordinary ones without tests:bench, "
                  + "422 beyond the bench ones, 429 while too much runs); the target policy refuses with 403 naming its rule",
                  request: Schemas.check, response: Schemas.test, status: 202, maxBody: 2 << 20, statuses: [422]),
        APIOperation("listTests", .get, "/api/v1/tests", .testsRun, tag: "tests", "Recent tests in your scope, newest first",
                  response: Schemas.testList,
                  query: [Field("limit", .integer(minimum: 1, maximum: 1000), "default 100"),
                          Field("status", .string(values: ["running", "completed", "cancelled", "failed"]))]),
        APIOperation("getTest", .get, "/api/v1/tests/{test_id}", .testsRun, tag: "tests", "One test: status, progress and its result once finished",
                  response: Schemas.test, pathSchemas: ["test_id": Schemas.testID]),
        APIOperation("cancelTest", .delete, "/api/v1/tests/{test_id}", .testsRun, tag: "tests",
                  "Cancel a test (yours, or as an administrator over its unit) and remove it: answers the test as it ended "
                  + "(status cancelled, or completed if it had finished), whose result stays stored in /api/v1/results",
                  response: Schemas.test, pathSchemas: ["test_id": Schemas.testID]),
        APIOperation("streamTest", .get, "/api/v1/tests/{test_id}/stream", .testsRun, tag: "tests",
                  "WebSocket (send Upgrade: websocket): each probe's result as it completes, a summary every second, then the final test. "
                  + "A cookie session must come from an allowed Origin. Frames: docs/test-server.md",
                  statuses: [101, 426], pathSchemas: ["test_id": Schemas.testID]),
        APIOperation("speedDownload", .get, "/api/v1/speedtest/download", .testsRun, tag: "speedtest",
                  "The browser speed test's download: `bytes` of incompressible data (application/octet-stream, no-store). "
                  + "429 while the speed-test transfers in flight reach speedtest_streams (or speedtest_streams_per_user for you)",
                  query: [Field("bytes", .integer(minimum: 1, maximum: 1 << 28),
                                "default 25 MiB; beyond speedtest_max_bytes (256 MiB, which a server may lower) a 422")],
                  statuses: [422, 429]),
        APIOperation("speedUpload", .post, "/api/v1/speedtest/upload", .testsRun, tag: "speedtest",
                  "The browser speed test's upload: any body (up to speedtest_max_bytes, else 413), read and discarded; "
                  + "answers how many bytes arrived and in how long. 429 as for the download",
                  response: Schemas.speedUpload, statuses: [413, 429]),
        APIOperation("speedPing", .get, "/api/v1/speedtest/ping", .testsRun, tag: "speedtest",
                  "The browser speed test's latency probe: an empty 204 (no-store)", status: 204),
        APIOperation("probe", .get, "/probe", .exporter, tag: "probe",
                  "blackbox_exporter-compatible probe: one check of the module against the target, answered in the Prometheus text format "
                  + "with blackbox's metric names (docs/test-server.md). Access (probe_access): open from loopback, otherwise a credential "
                  + "with tests:run; the target policy applies",
                  query: [Field("module", .string(maxLength: 128, minLength: 1), "a module of the probe_modules file (default http_2xx)"),
                          Field("target", .string(maxLength: 1024, minLength: 1), required: true, "URL, host:port or host, as the prober takes it")],
                  statuses: [501]),
        APIOperation("metrics", .get, "/metrics", .exporter, tag: "probe",
                  "The server's own metrics in the Prometheus text format: requests by route and status, the writer, the database pool, "
                  + "tests and ring threads (docs/test-server.md). Access as /probe; a credential needs audit:read"),
        APIOperation("legacyTest", .post, "/api/v1/test/{kind}", .testsRun, tag: "tests",
                  "The original test server's synchronous tests (http, tcp, udp, icmp): its request and response fields, our measurements. "
                  + "Kinds not in this engine yet (traceroute, http_trace, tcp_trace, udp_trace; dns and tls protocols) answer 501",
                  request: Schemas.legacyTest, response: Schemas.legacyTestResponse, maxBody: 16 << 10, statuses: [422, 501],
                  pathSchemas: ["kind": .string(maxLength: 32, minLength: 1, pattern: "[a-z0-9_]+")]),
    ]

    /// What an account with a one-time password may do before changing it.
    static let beforePasswordChange: Set<String> = ["changePassword", "logout", "whoami"]

    static let byID: [String: APIOperation] = Dictionary(uniqueKeysWithValues: operations.map { ($0.id, $0) })

    /// Each declared path as segments (nil: a `{parameter}`), with the `Allow` value of its methods
    /// (HEAD with GET, in a fixed order).
    private static let allowByPath: [(segments: [Substring?], allow: String)] = {
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
        return Dictionary(grouping: operations, by: \.path).map { path, declared in
            var methods = Set(declared.map(\.method))
            if methods.contains(.get) { methods.insert(.head) }
            let segments = path.split(separator: "/").map { $0.hasPrefix("{") ? nil : $0 }
            return (segments, order.filter(methods.contains).map(\.rawValue).joined(separator: ", "))
        }
    }()

    /// The methods declared on the path `path` matches, as an `Allow` value; nil for an unknown path.
    /// A literal segment beats a parameter, as in the router: `/ous/tree` is not `/ous/{id}`.
    static func allowedMethods(at path: String) -> String? {
        let parts = path.split(separator: "/")
        return allowByPath
            .filter { $0.segments.count == parts.count && zip($0.segments, parts).allSatisfy { $0 == nil || $0 == $1 } }
            .max { $0.segments.lazy.filter { $0 != nil }.count < $1.segments.lazy.filter { $0 != nil }.count }?
            .allow
    }

    static func operation(_ id: String) -> APIOperation {
        guard let operation = byID[id] else { preconditionFailure("no operation \(id)") }
        return operation
    }
}
