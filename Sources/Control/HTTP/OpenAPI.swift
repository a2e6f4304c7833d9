import Foundation

/// Renders `API.operations` as an OpenAPI 3.1 document: paths, parameters, request and response
/// schemas and each operation's `x-permission`. Generated, never hand-edited, so it cannot drift.
public enum OpenAPIDocument {
    public static func object() -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        var schemas: [String: Any] = [:]
        let errorSchema: [String: Any] = ["type": "object", "required": ["error", "message"], "properties": [
            "error": ["type": "string"], "message": ["type": "string"],
            "fields": ["type": "object", "additionalProperties": ["type": "string"]],
        ]]
        schemas["Error"] = errorSchema
        for operation in API.operations {
            var entry: [String: Any] = [
                "operationId": operation.id, "summary": operation.summary, "tags": [operation.tag],
                "x-permission": operation.permission.rawValue,
            ]
            var parameters: [[String: Any]] = operation.pathParameters.map { name in
                let schema: [String: Any] = operation.pathSchemas[name].map { render($0, into: &schemas) }
                    ?? ["type": "integer", "format": "int64", "minimum": 1, "maximum": JSONSchema.integerLimit]
                return ["name": name, "in": "path", "required": true, "schema": schema]
            }
            parameters += operation.query.map { field in
                var p: [String: Any] = ["name": field.name, "in": "query", "required": field.required, "schema": render(field.schema, into: &schemas)]
                if !field.description.isEmpty { p["description"] = field.description }
                return p
            }
            parameters += operation.headers.map { field in
                var p: [String: Any] = ["name": field.name, "in": "header", "required": field.required, "schema": render(field.schema, into: &schemas)]
                if !field.description.isEmpty { p["description"] = field.description }
                return p
            }
            if !parameters.isEmpty { entry["parameters"] = parameters }
            if let request = operation.request {
                entry["requestBody"] = ["required": !operation.optionalBody, "content": ["application/json": ["schema": render(.object(request), into: &schemas)]]]
            }
            var responses: [String: Any] = [:]
            let success: [String: Any]
            if operation.successStatus == 204 {
                success = ["description": "done"]
            } else if let response = operation.response {
                success = ["description": "success", "content": ["application/json": ["schema": render(.object(response), into: &schemas)]]]
            } else {
                success = ["description": "success"]
            }
            responses[String(operation.successStatus)] = success
            let error: [String: Any] = ["description": "error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
            // What any operation of its kind may answer: bad input, throttling, failures; a
            // credential refused or short of the permission; an id that names nothing; a body
            // too large, of the wrong type, or conflicting with what is stored.
            var codes = [400, 429, 500, 503]
            if operation.permission != .none { codes += [401, 403] }
            if !operation.pathParameters.isEmpty { codes.append(404) }
            if operation.request != nil { codes += [409, 413, 415] }
            for code in codes + operation.statuses where responses[String(code)] == nil {
                responses[String(code)] = (200..<300).contains(code) ? success : error
            }
            entry["responses"] = responses
            if operation.permission != .none {
                entry["security"] = [["bearer": []], ["apiKey": []], ["basic": []], ["session": []]] + (operation.permission == .resultsWrite ? [["managerKey": []]] : [])
            }
            paths[operation.path, default: [:]][operation.method.rawValue.lowercased()] = entry
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "WaddlePerf control plane", "version": "1.0.0",
                     "description": "Generated from the route declarations (Sources/Control/HTTP/Operations.swift). `x-permission` is what each operation requires; OU roles hold their permissions within their OU subtree."],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": [
                    "bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256) or a 64-hex API key"],
                    "apiKey": ["type": "apiKey", "in": "header", "name": "Authorization", "description": "`ApiKey <64 hex>`"],
                    "basic": ["type": "http", "scheme": "basic"],
                    "session": ["type": "apiKey", "in": "cookie", "name": "wp_session", "description": "state-changing requests also need X-CSRF-Token"],
                    "managerKey": ["type": "apiKey", "in": "header", "name": "X-Manager-Key"],
                ],
            ],
        ]
    }

    public static func data() -> Data {
        (try? JSONSerialization.data(withJSONObject: object(), options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    static func render(_ schema: JSONSchema, into schemas: inout [String: Any]) -> [String: Any] {
        switch schema {
        case .string(let maxLength, let minLength, let pattern, let values, let format):
            var s: [String: Any] = ["type": "string", "maxLength": maxLength]
            if minLength > 0 { s["minLength"] = minLength }
            if let pattern { s["pattern"] = "^(?:\(pattern))$" }
            if let values { s["enum"] = values }
            if let format { s["format"] = format }
            return s
        case .integer(let minimum, let maximum):
            // What the parser reads exactly bounds every integer (see `JSONSchema.integerLimit`).
            return ["type": "integer", "format": "int64", "minimum": max(minimum ?? -JSONSchema.integerLimit, -JSONSchema.integerLimit),
                    "maximum": min(maximum ?? JSONSchema.integerLimit, JSONSchema.integerLimit)]
        case .number(let minimum, let maximum):
            var s: [String: Any] = ["type": "number"]
            if let minimum { s["minimum"] = minimum }
            if let maximum { s["maximum"] = maximum }
            return s
        case .boolean: return ["type": "boolean"]
        case .array(let element, let maxItems, let minItems):
            var s: [String: Any] = ["type": "array", "items": render(element, into: &schemas)]
            if let maxItems { s["maxItems"] = maxItems }
            if minItems > 0 { s["minItems"] = minItems }
            return s
        case .freeform: return ["type": "object"]
        case .named(let name): return ["$ref": "#/components/schemas/\(name)"]
        case .nullable(let inner):
            var s = render(inner, into: &schemas)
            if let ref = s["$ref"] { return ["oneOf": [["$ref": ref], ["type": "null"]]] }
            s["type"] = [s["type"] ?? "string", "null"]
            return s
        case .object(let object):
            if schemas[object.name] == nil {
                schemas[object.name] = ["type": "object"]  // placeholder against recursion
                var properties: [String: Any] = [:]
                for field in object.fields {
                    var property = render(field.schema, into: &schemas)
                    if !field.description.isEmpty && property["$ref"] == nil { property["description"] = field.description }
                    properties[field.name] = property
                }
                var s: [String: Any] = ["type": "object", "properties": properties, "additionalProperties": !object.strict]
                let required = object.fields.filter(\.required).map(\.name)
                if !required.isEmpty { s["required"] = required }
                schemas[object.name] = s
            }
            return ["$ref": "#/components/schemas/\(object.name)"]
        }
    }
}
