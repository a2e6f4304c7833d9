@testable import Control
import Foundation
import Testing

/// Foundation's JSON parser makes true/false NSNumbers of type 'c'; 0 and 1 are 'q'.
func isBool(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return false }
    return number.objCType.pointee == 0x63
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("output parses back to the same values: escapes, booleans vs numbers, doubles, nesting, sorted keys")
    func roundTrip() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"n":1,"t":true,"d":2.5,"s":"x"}"#.utf8))
        let value: [String: Any] = [
            "text": "quote \" backslash \\ newline \n tab \t nul \u{0} é 🐧 </script>",
            "yes": true, "no": false, "int": 42, "int64": Int64(-9_007_199_254_740_993), "double": 0.1, "whole": 3.0,
            "tiny": 1e-9, "inf": Double.infinity, "null": NSNull(), "array": [1, "two", [3.5]] as [Any], "nested": ["b": 1, "a": 2],
            "parsed": parsed,
        ]
        let bytes = JSONWriter.data(value)
        let text = String(decoding: bytes, as: UTF8.self)
        let back = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(back["text"] as? String == value["text"] as? String)
        #expect(isBool(back["yes"]!) && (back["yes"] as? NSNumber)?.boolValue == true)
        #expect(isBool(back["no"]!) && !isBool(back["int"]!))
        #expect((back["int"] as? NSNumber)?.int64Value == 42 && (back["int64"] as? NSNumber)?.int64Value == -9_007_199_254_740_993)
        #expect((back["double"] as? NSNumber)?.doubleValue == 0.1 && (back["tiny"] as? NSNumber)?.doubleValue == 1e-9)
        #expect(back["inf"] is NSNull && back["null"] is NSNull)
        let inner = try #require(back["parsed"] as? [String: Any])
        #expect(isBool(inner["t"]!) && !isBool(inner["n"]!) && (inner["d"] as? NSNumber)?.doubleValue == 2.5)
        #expect(text.contains(#""whole":3,"#) && text.contains(#""nested":{"a":2,"b":1}"#))
        #expect(text.hasPrefix(#"{"array":[1,"two",[3.5]],"#))
    }
}

@Suite("schema patterns") struct PatternTests {
    @Test("remembered answers stay right, past the memo's size and for values never seen")
    func patternsMemo() {
        let outcome = "[a-z_]+(\\([0-9,]+\\))?"
        for _ in 0..<3 {
            #expect(Patterns.matches("success", outcome))
            #expect(Patterns.matches("unreachable(3,1)", outcome))
            #expect(!Patterns.matches("Success", outcome))
            #expect(!Patterns.matches("unreachable(3,1", outcome))
        }
        // More distinct values than the memo holds (every i spelled in letters):
        // it is cleared, answers do not change.
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        func word(_ i: Int) -> String { String(String(i, radix: 26).map { letters[Int(String($0), radix: 26)!] }) }
        #expect(Set((0..<5000).map(word)).count == 5000)
        for i in 0..<5000 { #expect(Patterns.matches("t" + word(i), "[a-z_]+") == true) }
        for i in 0..<5000 where i % 1000 == 0 { #expect(!Patterns.matches("T\(i)", "[a-z_]+")) }
        #expect(!Patterns.matches("success", "[0-9]{6}") && Patterns.matches("123456", "[0-9]{6}"))
        // Long values are answered but not remembered (the memo stays small).
        let long = String(repeating: "a", count: 500)
        #expect(Patterns.matches(long, "[a-z_]+") && !Patterns.matches(long + "!", "[a-z_]+"))
        // Canonically equal to an answered value, yet not what the expression
        // accepts: the Kelvin sign is not [A-Za-z].
        #expect(Patterns.matches("Kay", "[A-Za-z]+") && !Patterns.matches("\u{212A}ay", "[A-Za-z]+"))
    }
}

@Suite("schema parser") struct SchemaParserTests {
    static let doc = ObjectSchema("Doc", [Field("doc", .freeform)])
    static let item = ObjectSchema("Item", [
        Field("name", .string(maxLength: 8, minLength: 1, pattern: "[a-z]+"), required: true),
        Field("n", .nullable(.integer(minimum: 0, maximum: 1000))), Field("x", .number(minimum: -1)), Field("ok", .boolean),
    ])
    static let list = ObjectSchema("List", [
        Field("items", .array(of: .object(item), maxItems: 3), required: true), Field("tags", .array(of: .string(maxLength: 3))),
        Field("raw", .freeform),
    ])

    /// The problems `text` has against `schema` (nil: it parsed), or "invalid_json".
    func problems(_ text: String, _ schema: ObjectSchema = list) -> [String: String]? {
        do {
            _ = try SchemaValidator.parse(Data(text.utf8), as: schema)
            return nil
        } catch let error as APIError {
            return error.code == "invalid_json" ? ["": "invalid_json"] : error.fields ?? ["": error.message]
        } catch {
            return ["": "\(error)"]
        }
    }

    @Test("well-formed JSON is what JSONSerialization reads; free-form text is kept as sent")
    func syntaxAgreesWithJSONSerialization() throws {
        let documents = [
            #"{"a":1,"b":-2,"c":1.5,"d":-0.25e2,"e":true,"f":false,"g":null,"h":"x","i":[1,[2,{}],[]],"j":{"k":"l"}}"#,
            #"  { "s" : "quote \" backslash \\ slash \/ controls \b\f\n\r\t unicode \u00e9 \u4e2d pair \ud83d\ude00 raw é 中 😀" }  "#,
            #"{"big":9007199254740993,"huge":123456789012345678901234567890,"exp":1E3,"zero":0,"negzero":-0,"tiny":1e-300}"#,
            "{}", #"{"a":{"a":{"a":{"a":[[[[]]]]}}}}"#, #"{"dup":1,"dup":2}"#,
        ]
        for text in documents {
            let parsed = try SchemaValidator.parse(Data(#"{"doc":\#(text)}"#.utf8), as: Self.doc)
            #expect(parsed.rawJSON("doc") == text.trimmingCharacters(in: .whitespaces), "\(text)")
            #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
        }
        let malformed = [
            "", " ", "{", "}", #"{"a":1,}"#, "[1,]", #"{"a" 1}"#, #"{a:1}"#, "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]",
            "[NaN]", "[Infinity]", "[\"tab\tinside\"]", #"["\x"]"#, #"["\u12"]"#, "[true false]", "[tru]", "[nul]",
            // Lone or broken surrogates and numbers beyond a Double, inside a free-form value
            // that is stored as sent: refused, as readers of the stored text would.
            #"{"k":"\ud800"}"#, #"{"k":"\udc00"}"#, #"{"k":"\ud800\u0041"}"#, #"{"k":"\ud800x"}"#, #"{"k":1e999}"#, #"{"k":-1e400}"#,
            "{} {}", "// comment\n{}",
        ]
        for text in malformed {
            #expect(problems(#"{"doc":\#(text)}"#, Self.doc) == ["": "invalid_json"], "accepted: \(text)")
            // Corelibs JSONSerialization lets trailing commas pass; RFC 8259 does not.
            let trailingComma = text.hasSuffix(",}") || text.hasSuffix(",]")
            #expect(trailingComma || (try? JSONSerialization.jsonObject(with: Data(#"{"doc":\#(text)}"#.utf8))) == nil, "reference accepts: \(text)")
        }
        // Deeper than 64 levels, invalid UTF-8 inside a skipped string, a UTF-16 body.
        let deep = String(repeating: "{\"a\":", count: 70) + "1" + String(repeating: "}", count: 70)
        #expect(problems(#"{"doc":\#(deep)}"#, Self.doc) == ["": "invalid_json"])
        var bad = Data(#"{"doc":{"k":"x"}}"#.utf8)
        bad[13] = 0xFF
        #expect((try? SchemaValidator.parse(bad, as: Self.doc)) == nil)
        #expect((try? SchemaValidator.parse("{}".data(using: .utf16)!, as: Self.doc)) == nil)
        // A UTF-8 byte order mark is allowed; top-level non-objects are not requests.
        #expect(problems("\u{FEFF}{}", Self.doc) == nil)
        #expect(problems("[1,2]", Self.doc) == ["": "request body must be a JSON object"])
    }

    @Test("numbers: integers exact to Int64, doubles exactly what Double(String) reads")
    func numbers() throws {
        let schema = ObjectSchema("N", [Field("d", .number()), Field("i", .integer())])
        var generator = SystemRandomNumberGenerator()
        var texts = ["0", "-0", "0.1", "0.21000000000000002", "1e-7", "123456789012345.6", "1.7976931348623157e308",
                     "4.9e-324", "2.2250738585072014e-308", "9007199254740993", "0.000000000000000000000000001", "1E22", "1e23"]
        for _ in 0..<2000 {
            let d = Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF)  // finite, positive
            texts.append("\(d)")
            texts.append(String(format: "%.\(Int.random(in: 1...17))g", Double.random(in: 0...1000)))
        }
        for text in texts {
            let parsed = try SchemaValidator.parse(Data(#"{"d":\#(text)}"#.utf8), as: schema)
            #expect(parsed.double("d") == Double(text), "\(text)")
        }
        for (text, value) in [("0", 0), ("-42", -42), ("5.0", 5), ("1e3", 1000), ("8999999999999999", 8_999_999_999_999_999)] as [(String, Int64)] {
            #expect(try SchemaValidator.parse(Data(#"{"i":\#(text)}"#.utf8), as: schema).int("i") == value, "\(text)")
        }
        for text in ["1.5", "9000000000000000", "1e20", "true", "\"1\""] {
            #expect(problems(#"{"i":\#(text)}"#, schema) == ["i": "must be an integer"], "\(text)")
        }
        #expect(problems(#"{"d":1e999}"#, schema) == ["": "invalid_json"])
        // An exponent too long to keep does not land on the exact fast path.
        let tiny = "0." + String(repeating: "0", count: 99_999) + "1e1000000"
        #expect(problems(#"{"d":\#(tiny)}"#, schema) == ["": "invalid_json"])
        #expect(problems(#"{"d":false}"#, schema) == ["d": "must be a number"])
    }

    @Test("schema problems by path: types, bounds, required, unknown, repeated, too many items")
    func problemsByPath() throws {
        let good = try SchemaValidator.parse(Data(#"{"items":[{"name":"ab","n":null,"x":-1,"ok":true},{"ok":false,"name":"c","n":7}],"tags":["x"],"raw":{"k":[1]}}"#.utf8), as: Self.list)
        let items = good.objects("items")
        #expect(items.count == 2 && items[0].string("name") == "ab" && items[0].has("n") && items[0].int("n") == nil)
        #expect(items[0].double("x") == -1 && items[0].bool("ok") == true && items[1].int("n") == 7 && !items[1].has("x"))
        #expect(items[1].presentFields == ["name", "n", "ok"] && good.rawJSON("raw") == #"{"k":[1]}"#)
        #expect(problems(#"{"items":[{"name":"ab"},{"name":"AB","n":1001,"x":-2,"ok":1,"zz":0}]}"#) == [
            "items[1].name": "must match [a-z]+", "items[1].n": "must be at most 1000", "items[1].x": "must be at least -1.0",
            "items[1].ok": "must be true or false", "items[1].zz": "unknown field",
        ])
        #expect(problems(#"{"items":[{}],"tags":["x","long",3]}"#) == [
            "items[0].name": "is required", "tags[1]": "must be at most 3 characters", "tags[2]": "must be a string",
        ])
        #expect(problems(#"{"items":[{"name":"a","name":"b"}]}"#) == ["items[0].name": "is repeated"])
        #expect(problems(#"{"items":[{"name":"a"},{"name":"a"},{"name":"a"},{"name":"a"}]}"#) == ["items": "must have at most 3 items"])
        #expect(problems(#"{"items":{"name":"a"},"raw":[1]}"#) == ["items": "must be an array", "raw": "must be an object"])
        #expect(problems(#"{"items":[{"name":""}]}"#) == ["items[0].name": "must not be empty"])
        #expect(problems(#"{"items":[{"name":"a\u0041"}]}"#) == ["items[0].name": "must match [a-z]+"])
        #expect(problems(#"{"it\u0065ms":[]}"#) == nil)  // an escaped key is still the key
        // Malformed anywhere wins over schema problems found before it.
        #expect(problems(#"{"items":[{"name":5}], "tags":[1,}"#) == ["": "invalid_json"])
        // At most 50 problems are reported.
        let many = "{\"items\":[],\"tags\":[" + Array(repeating: "1", count: 200).joined(separator: ",") + "]}"
        #expect(problems(many)?.count == 50)
    }
}
