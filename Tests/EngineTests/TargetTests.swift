@testable import Engine
import Testing

@Suite struct TargetTests {
    @Test func addressesPrintAsInetNtopWould() {
        for text in ["0.0.0.0", "255.255.255.255", "10.0.100.9", "127.0.0.1", "192.168.10.200", "1.20.255.0"] {
            let a = IPAddress(text)!
            #expect(a.description == text)
            var bytes: [UInt8] = [UInt8(ascii: "x")]
            a.appendText(to: &bytes)
            #expect(bytes == Array(("x" + text).utf8))
        }
        #expect(IPAddress("2001:db8::1")!.description == "2001:db8::1")
    }

    @Test func parsesForms() throws {
        #expect(try TargetSpecification(parsing: "127.0.0.1") == .address(IPAddress("127.0.0.1")!, port: nil))
        #expect(try TargetSpecification(parsing: "127.0.0.1:8080") == .address(IPAddress("127.0.0.1")!, port: 8080))
        #expect(try TargetSpecification(parsing: "::1") == .address(IPAddress("::1")!, port: nil))
        #expect(try TargetSpecification(parsing: "[::1]:443") == .address(IPAddress("::1")!, port: 443))
        #expect(try TargetSpecification(parsing: "localhost:22") == .host("localhost", port: 22))
        #expect(try TargetSpecification(parsing: "10.0.0.0/30") == .network(IPAddress("10.0.0.0")!, prefixLength: 30, port: nil))
    }

    @Test func rejectsBadInputNamingTheField() {
        for bad in ["127.0.0.1:0", "127.0.0.1:65536", "host:http", "127.0.0.0/33", "::/100", "a b", "[::1", "bad/8"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TargetSpecification(parsing: bad) }
        }
        do {
            _ = try TargetSpecification(parsing: "127.0.0.1:70000")
        } catch {
            #expect(error.field == "target '127.0.0.1:70000'")
            #expect(error.message.contains("1-65535"))
        }
    }

    @Test func expandsNetworksLikeFping() {
        #expect(TargetSpecification.expand(IPAddress("127.0.0.0")!, prefixLength: 30).map(\.description) == ["127.0.0.1", "127.0.0.2"])
        #expect(TargetSpecification.expand(IPAddress("127.0.0.9")!, prefixLength: 32).map(\.description) == ["127.0.0.9"])
        #expect(TargetSpecification.expand(IPAddress("127.0.0.0")!, prefixLength: 16).count == 65_534)
        #expect(TargetSpecification.expand(IPAddress("fd00::")!, prefixLength: 126).map(\.description) == ["fd00::1", "fd00::2", "fd00::3"])
    }

    @Test func resolvesNamesOffThePool() async throws {
        let t = try await TargetResolver.resolve([.host("localhost", port: 7), .address(IPAddress("::1")!, port: nil)],
                                                 defaultPort: 9, family: .any)
        #expect(t.count == 2 && t[0].port == 7 && t[1].port == 9)
        #expect(t[0].address == IPAddress("127.0.0.1")! || t[0].address == IPAddress("::1")!)
        // A name that does not resolve is a target of its own, marked so, not an error.
        let missing = try await TargetResolver.resolve([.host("no-such-host.invalid", port: nil)], defaultPort: 0)
        #expect(missing.count == 1 && !missing[0].isResolved && missing[0].resolutionFailure?.isEmpty == false)
        #expect(missing[0].endpoint == "no-such-host.invalid")
    }

    @Test func durations() throws {
        #expect(try DurationParser.nanoseconds("250ms", field: "x") == 250_000_000)
        #expect(try DurationParser.nanoseconds("1.5", field: "x") == 1_500_000_000)
        #expect(try DurationParser.nanoseconds("20us", field: "x") == 20_000)
        #expect(try DurationParser.nanoseconds("0", field: "x") == 0)
        #expect(throws: ConfigurationError(field: "interval", "must not be negative, got '-1s'")) {
            try DurationParser.nanoseconds("-1s", field: "interval")
        }
    }

    @Test func settingsValidation() {
        var s = ProbeSettings()
        s.count = 0
        #expect(throws: ConfigurationError.self) { try s.validate() }
        s = ProbeSettings(); s.concurrency = 0
        #expect(throws: ConfigurationError.self) { try s.validate() }
        s = ProbeSettings(); s.ttl = 256
        #expect(throws: ConfigurationError.self) { try s.validate() }
    }
}
