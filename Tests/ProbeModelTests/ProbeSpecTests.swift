import Foundation
import ProbeModel
import Testing

@Suite struct ProbeSpecTests {
    func decode(_ json: String) throws -> ProbeSpec {
        try JSONDecoder().decode(ProbeSpec.self, from: Data(json.utf8))
    }

    @Test func aMixedListDecodesWithEachKindsParameters() throws {
        let list = try JSONDecoder().decode([ProbeSpec].self, from: Data("""
            [{"kind": "icmp", "target": "127.0.0.1", "count": 5, "icmp": {"size": 120, "ttl": 9}},
             {"kind": "tcp", "target": "127.0.0.1:7007", "tcp": {"send": 16, "expect": 16}},
             {"kind": "udp", "target": "127.0.0.1:7007", "interval_ms": 10},
             {"kind": "http", "target": "http://127.0.0.1/", "timeout_ms": 5000,
              "http": {"method": "HEAD", "headers": {"x-a": "1"}, "expect_status": [200, 204], "version": "2"}}]
            """.utf8))
        #expect(list.map(\.kind) == ["icmp", "tcp", "udp", "http"])
        #expect(list[0].parameters == .icmp(ICMPParameters(size: 120, ttl: 9)))
        #expect(list[0].count == 5)
        #expect(list[1].parameters == .tcp(TCPParameters(send: 16, expect: 16)))
        #expect(list[2].parameters == .udp(UDPParameters()) && list[2].intervalMilliseconds == 10)
        guard case .http(let h) = list[3].parameters else { Issue.record("not http"); return }
        #expect(h.method == "HEAD" && h.headers == ["x-a": "1"] && h.expectStatus == [200, 204] && h.version == .http2)
        for spec in list { try spec.validate() }
        // Round trip: what is encoded decodes to the same checks.
        let again = try JSONDecoder().decode([ProbeSpec].self, from: JSONEncoder().encode(list))
        #expect(again == list)
    }

    @Test func unknownFieldsAndForeignParametersAreRefusedByName() throws {
        #expect(throws: DecodingError.self) { try decode(#"{"kind": "tcp", "target": "a:1", "cuont": 3}"#) }
        do {
            _ = try decode(#"{"kind": "tcp", "target": "a:1", "http": {"method": "GET"}}"#)
            Issue.record("accepted http parameters on a tcp check")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("'http'"))
        }
        do {
            _ = try decode(#"{"kind": "http", "target": "http://a/", "http": {"methd": "GET"}}"#)
            Issue.record("accepted a misspelt http parameter")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("methd"))
        }
    }

    @Test func validationNamesTheFieldByItsPath() throws {
        func failure(_ json: String) throws -> ConfigurationError? {
            let spec = try decode(json)
            do { try spec.validate(path: "checks[3].") } catch { return error }
            return nil
        }
        #expect(try failure(#"{"kind": "dns", "target": "x"}"#)?.field == "checks[3].kind")
        #expect(try failure(#"{"kind": "icmp", "target": "x", "count": 0}"#)?.field == "checks[3].count")
        #expect(try failure(#"{"kind": "icmp", "target": "x", "timeout_ms": 0}"#)?.field == "checks[3].timeout_ms")
        #expect(try failure(#"{"kind": "icmp", "target": "x", "icmp": {"ttl": 300}}"#)?.field == "checks[3].icmp.ttl")
        #expect(try failure(#"{"kind": "http", "target": "x", "http": {"method": "GE T"}}"#)?.field == "checks[3].http.method")
        #expect(try failure(#"{"kind": "http", "target": "x", "http": {"headers": {"a": "b\r\nc: d"}}}"#)?.field
                == "checks[3].http.headers.a")
        #expect(try failure(#"{"kind": "http", "target": "x", "http": {"expect_status": [300, 200]}}"#)?.field
                == "checks[3].http.expect_status")
        #expect(try failure(#"{"kind": "tcp", "target": ""}"#)?.field == "checks[3].target")
        #expect(try failure(#"{"kind": "tcp", "target": "a:1"}"#) == nil)
    }
}

@Suite struct ResultDocumentTests {
    @Test func encodesFlatMetricsInCatalogOrderAndTheKindSpecificPartUnderRaw() throws {
        var d = ResultDocument(testType: "http", target: "https://a/", outcome: "success", success: true)
        d.sent = 3; d.received = 3
        d.metrics = ["total_ms": 12.5, "loss_percent": 0, "latency_ms": 12.5, "quic_handshake_ms": 3]
        d.details = ["status": .number(200), "tls_version": .text("TLSv1.3")]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(d), as: UTF8.self)
        #expect(text.contains(#""loss_percent":0"#) && text.contains(#""quic_handshake_ms":3"#))
        #expect(text.contains(#""raw":{"details":{"status":200,"tls_version":"TLSv1.3"}}"#))
        let back = try JSONDecoder().decode(ResultDocument.self, from: Data(text.utf8))
        #expect(back == d)
    }

    @Test func aKeyThatIsNeitherFixedNorAStoredMetricIsRefused() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ResultDocument.self, from: Data(
                #"{"test_type":"icmp","target":"a","outcome":"success","success":true,"latncy_ms":1}"#.utf8))
        }
    }
}
