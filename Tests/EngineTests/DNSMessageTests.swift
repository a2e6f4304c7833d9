@testable import Engine
import Testing

/// The DNS codec against messages written out byte by byte, so the expected
/// wire format is in the test rather than derived from the code under test.
struct DNSMessageTests {
    func parse(_ bytes: [UInt8]) throws -> DNSResponse {
        try bytes.withUnsafeBytes { buffer throws(DNSError) in try DNSMessage.parse(buffer) }
    }

    /// www.example.org → CNAME alias.example.org → A 192.0.2.1, AAAA
    /// 2001:db8::1; every owner name and the CNAME target are compressed.
    static let cnameChain: [UInt8] = [
        0xBE, 0xEF, 0x81, 0x80,  // id, flags: QR RD RA, NOERROR
        0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,  // QD 1, AN 3, NS 0, AR 0
        // 12: www.example.org A IN ("example" at 16)
        0x03, 0x77, 0x77, 0x77, 0x07, 0x65, 0x78, 0x61, 0x6D, 0x70, 0x6C, 0x65, 0x03, 0x6F, 0x72, 0x67, 0x00,
        0x00, 0x01, 0x00, 0x01,
        // 33: @12 CNAME IN ttl 300, rdlength 8: "alias" (at 45) + @16
        0xC0, 0x0C, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2C, 0x00, 0x08,
        0x05, 0x61, 0x6C, 0x69, 0x61, 0x73, 0xC0, 0x10,
        // 53: @45 A IN ttl 60, 192.0.2.1
        0xC0, 0x2D, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x04, 0xC0, 0x00, 0x02, 0x01,
        // 69: @45 AAAA IN ttl 30, 2001:db8::1
        0xC0, 0x2D, 0x00, 0x1C, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1E, 0x00, 0x10,
        0x20, 0x01, 0x0D, 0xB8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    ]

    /// A header (id 0x0102, QD 1, the given AN) with flags, then a.org A IN.
    static func header(flags: UInt16, answers: UInt8 = 0) -> [UInt8] {
        [0x01, 0x02, UInt8(flags >> 8), UInt8(flags & 0xFF), 0x00, 0x01, 0x00, answers, 0x00, 0x00, 0x00, 0x00,
         0x01, 0x61, 0x03, 0x6F, 0x72, 0x67, 0x00, 0x00, 0x01, 0x00, 0x01]
    }

    @Test func queryForExampleOrgIsTheRFC1035WireFormat() throws {
        let expected: [UInt8] = [
            0x12, 0x34,  // id
            0x01, 0x00,  // QR 0, opcode QUERY, RD 1; RCODE 0
            0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // QD 1, AN 0, NS 0, AR 0
            0x07, 0x65, 0x78, 0x61, 0x6D, 0x70, 0x6C, 0x65,  // 7 "example"
            0x03, 0x6F, 0x72, 0x67, 0x00,  // 3 "org", root
            0x00, 0x01, 0x00, 0x01,  // QTYPE A, QCLASS IN
        ]
        #expect(try DNSMessage.query(id: 0x1234, name: "example.org", type: .a) == expected)
        #expect(try DNSMessage.query(id: 0x1234, name: "example.org.", type: .a) == expected, "trailing dot")
        let aaaa = try DNSMessage.query(id: 0x1234, name: "example.org", type: .aaaa, recursionDesired: false)
        #expect(aaaa[2] == 0x00 && aaaa.suffix(4) == [0x00, 0x1C, 0x00, 0x01])
        #expect(DNSMessage.framedForTCP(expected).prefix(2) == [0x00, 29])
    }

    @Test func namesThatCannotGoOnTheWireAreRefused() throws {
        let label63 = String(repeating: "a", count: 63)
        #expect(try DNSMessage.query(id: 1, name: label63 + ".org", type: .a).count == 12 + 64 + 5 + 4)
        let error = #expect(throws: DNSError.self) { try DNSMessage.query(id: 1, name: label63 + "a.org", type: .a) }
        #expect(error?.message.contains("64 bytes") == true, "the error names the problem")
        // 253 bytes is the longest name; one more is refused.
        let longest = [label63, label63, label63, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(longest.utf8.count == 253)
        _ = try DNSMessage.query(id: 1, name: longest, type: .a)
        for bad in [longest + "b", "", ".", "a..org", ".a.org", "a.org..", "has space.org", "tab\t.org", "é.org"] {
            #expect(throws: DNSError.self, "\(bad)") { try DNSMessage.query(id: 1, name: bad, type: .a) }
        }
    }

    @Test func compressedCNAMEChainGivesTheAddressesOfTheFinalName() throws {
        let response = try parse(Self.cnameChain)
        #expect(response.id == 0xBEEF && response.isResponse && !response.truncated && response.recursionAvailable)
        #expect(response.rcode == 0 && response.rcodeName == "NOERROR")
        #expect(response.questions == [DNSQuestion(name: "www.example.org", type: .a)])
        #expect(response.answers.count == 3)
        #expect(response.answers[0].name == "www.example.org" && response.answers[0].target == "alias.example.org")
        #expect(response.answers[1].name == "alias.example.org" && response.answers[1].ttl == 60)
        #expect(response.canonicalName(for: "www.example.org") == "alias.example.org")
        #expect(response.addresses(for: "www.example.org", type: .a) == [.v4(0xC000_0201)])
        #expect(response.addresses(for: "WWW.Example.ORG.", type: .aaaa) == [.v6(0x2001_0DB8_0000_0000, 1)])
        #expect(response.addresses(for: "other.example.org", type: .a).isEmpty)
        #expect(response.minimumTTL == 30)
        #expect(response.isAnswer(to: DNSQuestion(name: "WWW.example.org.", type: .a), id: 0xBEEF))
        #expect(!response.isAnswer(to: DNSQuestion(name: "www.example.org", type: .a), id: 0xBEEE))
        #expect(!response.isAnswer(to: DNSQuestion(name: "www.example.org", type: .aaaa), id: 0xBEEF))
    }

    @Test func truncationAndResponseCodesAreReported() throws {
        let truncated = try parse(Self.header(flags: 0x8380))
        #expect(truncated.truncated && truncated.rcode == 0 && truncated.answers.isEmpty)
        let nxdomain = try parse(Self.header(flags: 0x8183))
        #expect(!nxdomain.truncated && nxdomain.rcode == 3 && nxdomain.rcodeName == "NXDOMAIN")
        #expect(try parse(Self.header(flags: 0x8182)).rcodeName == "SERVFAIL")
        #expect(try parse(Self.header(flags: 0x8185)).rcodeName == "REFUSED")
        #expect(try parse(Self.header(flags: 0x8189)).rcodeName == "RCODE 9")
        #expect(try !parse(Self.header(flags: 0x0100)).isResponse)
        // TC with counts the message cannot hold: the header is still read.
        let cut = try parse(Self.header(flags: 0x8380, answers: 2) + [0xC0, 0x0C, 0x00, 0x01])
        #expect(cut.truncated && cut.answers.isEmpty)
    }

    @Test func otherTypesAndClassesAreSkipped() throws {
        let bytes = Self.header(flags: 0x8180, answers: 3) + [
            0xC0, 0x0C, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x02, 0x01, 0x78,  // TXT "x"
            0xC0, 0x0C, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x04, 0x0A, 0x00, 0x00, 0x09,  // A, class CH
            0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x04, 0x0A, 0x00, 0x00, 0x01,  // A, TTL ≥ 2^31
        ]
        let response = try parse(bytes)
        #expect(response.answers == [DNSAnswer(name: "a.org", type: 1, ttl: 0, address: .v4(0x0A00_0001))])
    }

    @Test func labelBytesAreEscapedSoNamesStayDistinct() throws {
        var bytes = Self.header(flags: 0x8180)
        bytes.replaceSubrange(12..<19, with: [0x03, 0x61, 0x2E, 0x00, 0x00])  // label "a.\0"
        #expect(try parse(bytes).questions.first?.name == "a\\046\\000")
    }

    @Test func malformedMessagesThrow() throws {
        let cases: [(String, [UInt8])] = [
            ("truncated header", [0x01, 0x02, 0x81, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]),
            ("pointer to itself", Array(Self.header(flags: 0x8180)[0..<12]) + [0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01]),
            ("label then pointer back to it", Array(Self.header(flags: 0x8180)[0..<12])
                + [0x01, 0x61, 0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01]),
            ("pointer forward", Array(Self.header(flags: 0x8180)[0..<12])
                + [0xC0, 0x0E, 0x01, 0x61, 0x00, 0x00, 0x01, 0x00, 0x01]),
            ("pointer into the header", Array(Self.header(flags: 0x8180)[0..<12]) + [0xC0, 0x02, 0x00, 0x01, 0x00, 0x01]),
            ("label past the end", Array(Self.header(flags: 0x8180)[0..<12]) + [0x05, 0x61, 0x62]),
            ("no root label", Array(Self.header(flags: 0x8180)[0..<18])),
            ("extended label type", Array(Self.header(flags: 0x8180)[0..<12]) + [0x41, 0x00, 0x00, 0x01, 0x00, 0x01]),
            ("answer count beyond data", Self.header(flags: 0x8180, answers: 1)),
            ("question count beyond data", [0x01, 0x02, 0x81, 0x80, 0x00, 0x02] + Self.header(flags: 0x8180)[6...]),
            ("rdlength past the end", Self.header(flags: 0x8180, answers: 1)
                + [0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x04, 0x0A, 0x00]),
            ("A with 5 bytes", Self.header(flags: 0x8180, answers: 1)
                + [0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x05, 0x0A, 0x00, 0x00, 0x01, 0x00]),
            ("CNAME longer than its data", Self.header(flags: 0x8180, answers: 1)
                + [0xC0, 0x0C, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x01, 0xC0, 0x0C]),
        ]
        for (name, bytes) in cases {
            #expect(throws: DNSError.self, "\(name)") { try parse(bytes) }
        }
        for length in 0..<Self.cnameChain.count {
            #expect(throws: DNSError.self, "prefix of \(length) bytes") { try parse(Array(Self.cnameChain.prefix(length))) }
        }
    }

    /// Any single byte changed to a value that upsets a parser: it must
    /// throw or parse, never trap.
    @Test func corruptedMessagesNeverTrap() {
        for index in Self.cnameChain.indices {
            for value: UInt8 in [0x00, 0x01, 0x3F, 0x40, 0xC0, 0xFF] {
                var bytes = Self.cnameChain
                bytes[index] = value
                _ = try? parse(bytes)
            }
        }
    }

    @Test func cnameLoopsAndLongChainsHaveNoAddresses() {
        func alias(_ from: String, _ to: String) -> DNSAnswer { DNSAnswer(name: from, type: 5, ttl: 60, target: to) }
        let address = DNSAnswer(name: "n16", type: 1, ttl: 60, address: .v4(1))
        var response = DNSResponse(
            id: 1, isResponse: true, authoritative: false, truncated: false, recursionAvailable: true,
            rcode: 0, questions: [], answers: [alias("a", "b"), alias("b", "a")])
        #expect(response.canonicalName(for: "a") == nil && response.addresses(for: "a", type: .a).isEmpty)
        response.answers = (0..<16).map { alias("n\($0)", "n\($0 + 1)") } + [address]
        #expect(response.addresses(for: "n0", type: .a) == [.v4(1)], "16 hops are followed")
        response.answers.insert(alias("m", "n0"), at: 0)
        #expect(response.addresses(for: "m", type: .a).isEmpty, "17 are not")
    }
}

/// resolv.conf and hosts read with glibc's rules, and the search order.
struct ResolverConfigurationTests {
    @Test func resolvConfNameserversSearchAndOptions() {
        let text = """
            # generated by hand
            nameserver 192.0.2.53
            nameserver 2001:db8::53   ; trailing comment
            nameserver fe80::1%eth0
            nameserver not-an-address
            \tnameserver\t198.51.100.53
            nameserver 203.0.113.53
            domain first.example
            search Example.COM corp.example.  # later line wins
            options ndots:2 timeout:3 edns0 attempts:4 rotate
            ;options ndots:9
            sortlist 130.155.160.0/255.255.240.0
            """
        let c = ResolverConfiguration.parse(resolvConf: text)
        #expect(c.nameservers == [.v4(0xC000_0235), .v6(0x2001_0DB8_0000_0000, 0x53), .v4(0xC633_6435)])
        #expect(c.searchDomains == ["Example.COM", "corp.example"])
        #expect(c.ndots == 2 && c.timeout == 3_000_000_000 && c.attempts == 4 && c.rotate)
        let domainLast = ResolverConfiguration.parse(resolvConf: "search a.example b.example\ndomain c.example. d\n")
        #expect(domainLast.searchDomains == ["c.example"])
    }

    @Test func defaultsWithoutNameserversAreGlibcs() {
        for text in ["", "# only a comment\n; and another\n", "nameserver ::1%lo\nsearch\n"] {
            let c = ResolverConfiguration.parse(resolvConf: text)
            #expect(c.nameservers == [.v4(0x7F00_0001)] && c.searchDomains.isEmpty)
            #expect(c.ndots == 1 && c.timeout == 5_000_000_000 && c.attempts == 2 && !c.rotate)
        }
        #expect(ResolverConfiguration.load(path: "/nonexistent/resolv.conf") == ResolverConfiguration())
    }

    @Test func optionValuesAreCappedLikeGlibc() {
        let high = ResolverConfiguration.parse(resolvConf: "options ndots:20 timeout:99 attempts:9")
        #expect(high.ndots == 15 && high.timeout == 30_000_000_000 && high.attempts == 5)
        let low = ResolverConfiguration.parse(resolvConf: "options ndots:0 timeout:0 attempts:0")
        #expect(low.ndots == 0 && low.timeout == 1_000_000_000 && low.attempts == 1)
        let bad = ResolverConfiguration.parse(resolvConf: "options ndots:x ndots:-1 timeout: attempts")
        #expect(bad.ndots == 1 && bad.timeout == 5_000_000_000 && bad.attempts == 2)
    }

    @Test func hostsFileNamesAliasesCaseAndIPv6() {
        let hosts = HostsFile.parse("""
            127.0.0.1\tlocalhost
            ::1 localhost ip6-localhost ip6-loopback
            192.0.2.10 Web.Example.org web  # the canonical name, then an alias
            192.0.2.11 web.example.org
            192.0.2.10 web.example.org
            # 10.0.0.1 commented.example
            fe80::1%lo scoped.example
            not-an-address broken.example
            """)
        #expect(hosts.lookup("localhost", type: .a) == [.v4(0x7F00_0001)])
        #expect(hosts.lookup("LOCALHOST.", type: .aaaa) == [.v6(0, 1)])
        #expect(hosts.lookup("ip6-localhost", type: .a).isEmpty)
        #expect(hosts.lookup("web.example.org", type: .a) == [.v4(0xC000_020A), .v4(0xC000_020B)])
        #expect(hosts.lookup("WEB", type: .a) == [.v4(0xC000_020A)])
        #expect(hosts.lookup("web", type: .cname).isEmpty)
        for missing in ["commented.example", "scoped.example", "broken.example", "nowhere"] {
            #expect(hosts.lookup(missing, type: .a).isEmpty && hosts.lookup(missing, type: .aaaa).isEmpty)
        }
        #expect(HostsFile.load(path: "/nonexistent/hosts") == HostsFile())
    }

    @Test func candidatesFollowNdotsAndTheSearchList() {
        var c = ResolverConfiguration(searchDomains: ["example.com", "corp.example"])
        #expect(c.candidates(for: "www") == ["www.example.com", "www.corp.example", "www"])
        #expect(c.candidates(for: "www.example.org")
            == ["www.example.org", "www.example.org.example.com", "www.example.org.corp.example"])
        #expect(c.candidates(for: "www.example.org.") == ["www.example.org"], "absolute")
        #expect(c.candidates(for: "").isEmpty && c.candidates(for: ".").isEmpty)
        c.ndots = 3
        #expect(c.candidates(for: "a.b") == ["a.b.example.com", "a.b.corp.example", "a.b"])
        c.ndots = 0
        #expect(c.candidates(for: "www") == ["www", "www.example.com", "www.corp.example"])
        let long = String(repeating: "x", count: 63) + "." + String(repeating: "y", count: 63) + "."
            + String(repeating: "z", count: 63) + "." + String(repeating: "w", count: 50)
        #expect(c.candidates(for: long) == [long], "a candidate longer than 253 bytes is left out")
        #expect(ResolverConfiguration().candidates(for: "www") == ["www"])
        #expect(ResolverConfiguration(searchDomains: ["Example.com", "example.COM"]).candidates(for: "a")
            == ["a.Example.com", "a"], "duplicates are tried once")
    }
}
