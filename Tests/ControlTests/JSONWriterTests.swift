@testable import Control
import Foundation
import Testing

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
        #expect(SchemaValidator.isBool(back["yes"]!) && (back["yes"] as? NSNumber)?.boolValue == true)
        #expect(SchemaValidator.isBool(back["no"]!) && !SchemaValidator.isBool(back["int"]!))
        #expect((back["int"] as? NSNumber)?.int64Value == 42 && (back["int64"] as? NSNumber)?.int64Value == -9_007_199_254_740_993)
        #expect((back["double"] as? NSNumber)?.doubleValue == 0.1 && (back["tiny"] as? NSNumber)?.doubleValue == 1e-9)
        #expect(back["inf"] is NSNull && back["null"] is NSNull)
        let inner = try #require(back["parsed"] as? [String: Any])
        #expect(SchemaValidator.isBool(inner["t"]!) && !SchemaValidator.isBool(inner["n"]!) && (inner["d"] as? NSNumber)?.doubleValue == 2.5)
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

@Suite("JSON reader") struct JSONReaderTests {
    /// What JSONSerialization makes of `text`, or nil when it refuses it.
    func reference(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8), options: []) }

    @Test("reads what JSONSerialization reads, to the same values and types; declines the rest")
    func agreesWithJSONSerialization() throws {
        let documents = [
            #"{"a":1,"b":-2,"c":1.5,"d":-0.25e2,"e":true,"f":false,"g":null,"h":"x","i":[1,[2,{}],[]],"j":{"k":"l"}}"#,
            #"{"results":[{"test_type":"icmp","target":"host-1.example","success":true,"sent":10,"latency_ms":0.21}]}"#,
            #"  { "s" : "quote \" backslash \\ slash \/ controls \b\f\n\r\t unicode \u00e9 \u4e2d pair \ud83d\ude00 raw é 中 😀" }  "#,
            #"{"big":9007199254740991,"small":-9007199254740991,"exp":1E3,"zero":0,"negzero":-0,"tiny":1e-300}"#,
            #"[1,2,3]"#, "{}", "[]",
        ]
        for text in documents {
            let mine = try #require(JSONReader.read(Data(text.utf8)), "declined: \(text)")
            let theirs = try #require(reference(text), "reference refused: \(text)")
            // Same values: both written back the same way (types included:
            // booleans stay booleans, integers stay integers).
            #expect(JSONWriter.data(mine) == JSONWriter.data(theirs), "\(text)")
        }
        let obj = try #require(JSONReader.read(Data(#"{"t":true,"n":1,"d":2.5}"#.utf8)) as? [String: Any])
        #expect(SchemaValidator.isBool(obj["t"]!) && !SchemaValidator.isBool(obj["n"]!) && !SchemaValidator.isBool(obj["d"]!))
        #expect((obj["n"] as? NSNumber)?.int64Value == 1 && (obj["d"] as? NSNumber)?.doubleValue == 2.5)
    }

    @Test("declines what is not plain RFC 8259 UTF-8 JSON (the caller then asks JSONSerialization)")
    func declinesTheRest() {
        let bad = [
            "", " ", "{", "}", #"{"a":1,}"#, "[1,]", #"{"a" 1}"#, #"{a:1}"#, "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]",
            "[NaN]", "[Infinity]", "[1e999]", "[9223372036854775808]", "[9007199254740992]", "[\"tab\tinside\"]", #"["\x"]"#, #"["\u12"]"#, #"["\ud800"]"#, #"["\udc00"]"#,
            #"["\ud800\u0041"]"#, "[true false]", "[tru]", "[nul]", "{} {}", #"{"a":1,"a":2}"#, "// comment\n{}",
            // Top-level scalars: JSONSerialization (without .fragmentsAllowed) refuses them.
            #""just a string""#, "12", "true", "null",
            String(repeating: "[", count: 70) + String(repeating: "]", count: 70),
        ]
        for text in bad { #expect(JSONReader.read(Data(text.utf8)) == nil, "accepted: \(text)") }
        #expect(JSONReader.read(Data([0x5B, 0x22, 0xFF, 0x22, 0x5D])) == nil, "invalid UTF-8")
        // UTF-16 with a BOM: not ours (JSONSerialization reads it).
        #expect(JSONReader.read("{}".data(using: .utf16)!) == nil)
    }
}
