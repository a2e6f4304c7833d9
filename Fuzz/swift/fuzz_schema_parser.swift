// fuzz_schema_parser: the control plane's request-body parser (SchemaParser in
// Sources/Control/HTTP/JSONParser.swift, through SchemaValidator in JSONSchema.swift)
// against the result-upload schema, `Schemas.resultUpload`: the largest request body
// (16 MiB), the hot path, and the schema that uses every request feature (nested
// objects in an array with minItems/maxItems, nullable, integer and number bounds,
// string length/enum/pattern, a free-form object kept as text, strict unknown fields).
//
// Input: a request body, as Request.json (Routes.swift) hands the collected buffer to
// `SchemaValidator.parse(_:as:)`. libFuzzer's buffer is parsed in place, so a read past
// its end is a heap overflow ASan reports.
//
// The schema is rebuilt here from Operations.swift (see FuzzSchemas): that file also
// declares the routes and needs Hummingbird, so it cannot be compiled in.
//
// Oracles beyond memory safety:
//  - the only error is APIError 400 with code invalid_json (fixed message, no fields)
//    or invalid_request (1...50 field problems and the summary the validator writes,
//    or "request body must be a JSON object");
//  - determinism: the same outcome twice;
//  - RFC 8259 §2 and §8.1: the body with whitespace around it, and with a UTF-8 BOM
//    before it, gives the same outcome;
//  - an accepted body conforms to the schema, checked independently (types, required
//    fields, code-point lengths, enums, the outcome pattern by a hand-written matcher,
//    integer and number bounds, item counts, a free-form value is an object's text);
//  - an accepted body, written back as JSON, validates to the same values (numbers,
//    escapes and raw text survive the round trip);
//  - the upload handler's reads (ResultsController.row) find the four required fields;
//  - the outcome pattern via Patterns (NSRegularExpression, anchored \A...\z) agrees with
//    the hand-written matcher, on text taken from the input with and without a final LF;
//  - strict (on unless FUZZ_LENIENT=1 is set): well-formed JSON by SchemaParser (anything
//    but invalid_json) is also accepted by Foundation's JSONSerialization.
// Any failed oracle is a fatalError, which libFuzzer reports as a crash.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzSchema.check(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Builds the schemas and the pattern caches once before the first input: libFuzzer counts an
/// input that allocates more than it frees as a leak, and one-time globals would be that.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let sample = Array(#"{"results":[{"test_type":"icmp","target":"192.0.2.1","outcome":"success","success":true}]}"#.utf8)
    sample.withUnsafeBytes { FuzzSchema.check($0) }
    return 0
}

/// `Schemas.result(metrics:testTypes:)` and `Schemas.resultUpload`, copied from
/// Sources/Control/HTTP/Operations.swift (keep in step). `ResultMetrics.declared` is
/// `KindCatalog.builtIn.storedMetrics` (Sources/Control/Storage/ResultMetrics.swift).
enum FuzzSchemas {
    static let id = JSONSchema.integer(minimum: 1)
    static let result = result(metrics: KindCatalog.builtIn.storedMetrics, testTypes: KindCatalog.builtIn.testTypes)
    static func result(metrics: [StoredMetric], testTypes: [String]) -> ObjectSchema { ObjectSchema("TestResult", [
        Field("test_type", .string(maxLength: 32, values: testTypes), required: true),
        Field("protocol_detail", .string(maxLength: 64)),
        Field("target", .string(maxLength: 255, minLength: 1), required: true),
        Field("resolved_address", .nullable(.string(maxLength: 64))),
        Field("outcome", .string(maxLength: 32, minLength: 1, pattern: outcomePattern), required: true, "success, timeout, refused, unreachable(3,1), error, ..."),
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
    static let outcomePattern = "[a-z_]+(\\([0-9,]+\\))?"
}

enum FuzzSchema {
    static let strict = ProcessInfo.processInfo.environment["FUZZ_LENIENT"] == nil

    static func fail(_ message: String) -> Never {
        fatalError("fuzz_schema_parser: " + message)
    }

    enum Outcome: Equatable {
        /// The validated document, written back as JSON.
        case accepted([UInt8])
        case refused(code: String, message: String, fields: [String: String]?)
    }

    /// `body` on an allocation of exactly `bytes.count` bytes, so ASan sees any read past the end.
    static func withExactCopy<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { copy.deallocate() }
        bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
        return body(UnsafeRawBufferPointer(copy))
    }

    static func validate(_ body: UnsafeRawBufferPointer) -> (Outcome, JSONObject?) {
        do {
            let object = try SchemaValidator.parse(body, as: FuzzSchemas.resultUpload)
            return (.accepted(render(object)), object)
        } catch let error as APIError {
            guard error.status.code == 400 else { fail("status \(error.status.code) for \(error.code)") }
            switch error.code {
            case "invalid_json":
                guard error.message == "request body is not valid JSON", error.fields == nil else { fail("invalid_json: \(error)") }
            case "invalid_request":
                if let fields = error.fields {
                    guard !fields.isEmpty, fields.count <= SchemaParser.maximumProblems else { fail("\(fields.count) problems") }
                    let summary = fields.sorted { $0.key < $1.key }.prefix(5).map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                    guard error.message == summary else { fail("summary \(error.message.debugDescription) for \(fields)") }
                } else {
                    guard error.message == "request body must be a JSON object" else { fail("invalid_request without fields: \(error.message)") }
                }
            default:
                fail("error code \(error.code)")
            }
            return (.refused(code: error.code, message: error.message, fields: error.fields), nil)
        } catch {
            fail("SchemaValidator.parse threw \(type(of: error)), not APIError: \(error)")
        }
    }

    static func check(_ body: UnsafeRawBufferPointer) {
        let (outcome, object) = validate(body)
        guard validate(body).0 == outcome else { fail("not deterministic") }

        let hasBOM = body.count >= 3 && body[0] == 0xEF && body[1] == 0xBB && body[2] == 0xBF
        if !hasBOM {
            let bytes = Array(body)
            let before: [UInt8] = [0x20, 0x0A, 0x09, 0x0D]
            let after: [UInt8] = [0x0D, 0x0A, 0x20, 0x09]
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            let padded = withExactCopy(before + bytes + after) { validate($0).0 }
            guard padded == outcome else { fail("whitespace around the body changed the outcome:\n  \(outcome)\n  \(padded)") }
            let marked = withExactCopy(bom + bytes) { validate($0).0 }
            guard marked == outcome else { fail("a BOM before the body changed the outcome:\n  \(outcome)\n  \(marked)") }
        }

        if let object, case .accepted(let rendered) = outcome {
            conforms(object, FuzzSchemas.resultUpload, path: "")
            let back = withExactCopy(rendered) { validate($0).0 }
            guard back == outcome else {
                fail("the accepted body, written back, validates differently:\n  \(String(decoding: rendered, as: UTF8.self))\n  \(back)")
            }
            checkUploadHandler(object)
        }

        checkOutcomePattern(String(decoding: body.prefix(40), as: UTF8.self))

        if strict, outcome != .refused(code: "invalid_json", message: "request body is not valid JSON", fields: nil) {
            let text = hasBOM ? Data(body[3...]) : Data(body)
            guard (try? JSONSerialization.jsonObject(with: text, options: [.fragmentsAllowed])) != nil else {
                fail("SchemaParser reads well-formed JSON that JSONSerialization refuses (FUZZ_LENIENT=1 skips this check)")
            }
        }
    }

    // MARK: Writing a validated document back as JSON

    static func render(_ object: JSONObject) -> [UInt8] {
        var out: [UInt8] = []
        render(object, into: &out)
        return out
    }

    static func render(_ object: JSONObject, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (field, slot) in zip(object.layout.fields, object.slots) {
            guard let value = slot else { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            render(string: field.name, into: &out)
            out.append(UInt8(ascii: ":"))
            render(value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func render(_ value: SchemaValue, into out: inout [UInt8]) {
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let v): out += Array(String(v).utf8)
        case .double(let d):
            guard d.isFinite else { fail("a non-finite number was accepted: \(d)") }
            out += Array(d.description.utf8)  // shortest text that reads back as d
        case .string(let s): render(string: s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                render(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o): render(o, into: &out)
        case .raw(let text): out += Array(text.utf8)
        }
    }

    static func render(string: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in string.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(b)
            case 0..<0x20:
                out += Array("\\u00".utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default:
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Conformance, checked independently of the parser

    static func conforms(_ object: JSONObject, _ schema: ObjectSchema, path: String) {
        guard object.slots.count == schema.fields.count else { fail("\(path): \(object.slots.count) slots for \(schema.fields.count) fields") }
        for (field, slot) in zip(schema.fields, object.slots) {
            let here = path.isEmpty ? field.name : path + "." + field.name
            guard let value = slot else {
                if field.required { fail("\(here) is required but absent") }
                continue
            }
            conforms(value, field.schema, path: here)
        }
    }

    static func conforms(_ value: SchemaValue, _ schema: JSONSchema, path: String) {
        switch (schema, value) {
        case (.nullable, .null):
            return
        case (.nullable(let inner), _):
            conforms(value, inner, path: path)
        case (.string(let maxLength, let minLength, let pattern, let values, _), .string(let s)):
            let length = s.unicodeScalars.count
            guard length <= maxLength, length >= minLength else { fail("\(path): \(length) code points, not \(minLength)...\(maxLength)") }
            if let values, !values.contains(s) { fail("\(path): \(s.debugDescription) is not one of \(values)") }
            if let pattern {
                guard pattern == FuzzSchemas.outcomePattern else { fail("\(path): no matcher here for the pattern \(pattern)") }
                guard outcomeMatches(s) else { fail("\(path): \(s.debugDescription) does not match \(pattern)") }
            }
        case (.integer(let minimum, let maximum), .int(let v)):
            guard v.magnitude <= JSONSchema.integerLimit.magnitude else { fail("\(path): \(v) beyond the integer limit") }
            if let minimum, v < minimum { fail("\(path): \(v) below \(minimum)") }
            if let maximum, v > maximum { fail("\(path): \(v) above \(maximum)") }
        case (.number(let minimum, let maximum), .double(let d)):
            guard d.isFinite else { fail("\(path): \(d)") }
            if let minimum, d < minimum { fail("\(path): \(d) below \(minimum)") }
            if let maximum, d > maximum { fail("\(path): \(d) above \(maximum)") }
        case (.boolean, .bool):
            return
        case (.array(let element, let maxItems, let minItems), .array(let items)):
            guard items.count >= minItems else { fail("\(path): \(items.count) items, at least \(minItems) required") }
            if let maxItems, items.count > maxItems { fail("\(path): \(items.count) items, at most \(maxItems) allowed") }
            for (i, item) in items.enumerated() { conforms(item, element, path: "\(path)[\(i)]") }
        case (.object(let inner), .object(let o)):
            conforms(o, inner, path: path)
        case (.freeform, .raw(let text)):
            guard text.utf8.first == UInt8(ascii: "{"), text.utf8.last == UInt8(ascii: "}") else { fail("\(path): raw \(text.debugDescription)") }
        default:
            fail("\(path): \(value) where the schema says \(schema)")
        }
    }

    /// `[a-z_]+(\([0-9,]+\))?`, the whole string.
    static func outcomeMatches(_ s: String) -> Bool {
        let b = Array(s.utf8)
        var i = 0
        while i < b.count && ((b[i] >= UInt8(ascii: "a") && b[i] <= UInt8(ascii: "z")) || b[i] == UInt8(ascii: "_")) { i += 1 }
        guard i > 0 else { return false }
        if i == b.count { return true }
        guard b[i] == UInt8(ascii: "(") else { return false }
        i += 1
        let digitsStart = i
        while i < b.count && ((b[i] >= UInt8(ascii: "0") && b[i] <= UInt8(ascii: "9")) || b[i] == UInt8(ascii: ",")) { i += 1 }
        return i > digitsStart && i == b.count - 1 && b[i] == UInt8(ascii: ")")
    }

    static func checkOutcomePattern(_ text: String) {
        for candidate in [text, text + "\n"] where Patterns.matches(candidate, FuzzSchemas.outcomePattern) != outcomeMatches(candidate) {
            fail("Patterns.matches(\(candidate.debugDescription)) disagrees with the pattern \(FuzzSchemas.outcomePattern)")
        }
    }

    /// ResultsController.row(from:) reads these; the schema requires them, so they are there.
    static func checkUploadHandler(_ body: JSONObject) {
        let items = body.objects("results")
        guard !items.isEmpty else { fail("an accepted upload with no results") }
        let result = FuzzSchemas.result
        let testType = result.position(of: "test_type"), target = result.position(of: "target")
        let outcome = result.position(of: "outcome"), success = result.position(of: "success")
        for (i, item) in items.enumerated() {
            guard item[testType]?.string != nil, item[target]?.string != nil, item[outcome]?.string != nil,
                  item[success]?.bool != nil else {
                fail("results[\(i)]: a required field the handler reads is missing")
            }
            // `row.metrics[index] = item[position]?.double`: present means a number or null.
            for metric in KindCatalog.builtIn.storedMetrics {
                guard let value = item[result.position(of: metric.name)] else { continue }
                if case .null = value { continue }
                guard value.double != nil else { fail("results[\(i)].\(metric.name): \(value) is not a number") }
            }
            if let raw = item[result.position(of: "raw")], raw.rawJSON == nil { fail("results[\(i)].raw: \(raw)") }
        }
    }
}
