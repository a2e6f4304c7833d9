#!/usr/bin/env python3
"""Writes the seed corpus of the Swift fuzz harnesses (Fuzz/corpus/<harness>/).

The harnesses are Fuzz/swift/fuzz_*.swift; the top of each states its input format
(a DNS message; the bytes of an HTTP/1.1 response; a result-upload request body).
Each seed is a small, named, valid or edge-case input. Running this again rewrites
the same bytes (nothing random), so the committed seeds are reproducible; files it
does not name (inputs merged in by libFuzzer, named by their SHA-1) are left alone.

None of these seeds trips a harness's strict checks (status below 100, header names
aliased through control bytes, a bare CR in a chunk size): those are for the fuzzer to
find, and a seed that fails would fail every replay.

Usage: python3 Fuzz/make-swift-seeds.py   (stdlib only)
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# --------------------------------------------------------------------------
# DNS (RFC 1035 §4.1), as a resolver receives it.

A, NS, CNAME, SOA, TXT, AAAA, OPT = 1, 2, 5, 6, 16, 28, 41
IN, CH = 1, 3


def header(ident=0xBEEF, flags=0x8180, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def name(text):
    """Uncompressed wire name; "" or "." is the root."""
    out = b""
    for label in text.strip(".").split("."):
        if label:
            raw = label.encode("latin-1")
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def labels(*raw):
    return b"".join(bytes([len(l)]) + l for l in raw) + b"\0"


def ptr(offset):
    return struct.pack("!H", 0xC000 | offset)


def compressed(*raw, to):
    """Labels, then a pointer to the rest of the name at offset `to`."""
    return labels(*raw)[:-1] + ptr(to)


def question(qname, qtype=A, qclass=IN):
    return qname + struct.pack("!HH", qtype, qclass)


def rr(owner, rtype, rdata, ttl=300, rclass=IN, rdlength=None):
    length = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, length) + rdata


def ipv4(text):
    return bytes(int(p) for p in text.split("."))


def ipv6(groups):
    return b"".join(struct.pack("!H", g) for g in groups)


def query(ident, qname, qtype):
    """What DNSMessage.query writes: RD set, one question, class IN."""
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question(name(qname), qtype)


# The engine test's message: www.example.org -> CNAME alias.example.org -> A, AAAA;
# owner names and the CNAME target compressed.
CNAME_CHAIN = (header(an=3)
               + question(name("www.example.org"))              # 12; "example" at 16
               + rr(ptr(12), CNAME, compressed(b"alias", to=16))  # 33; "alias" at 45
               + rr(ptr(45), A, ipv4("192.0.2.1"), ttl=60)
               + rr(ptr(45), AAAA, ipv6([0x2001, 0xDB8, 0, 0, 0, 0, 0, 1]), ttl=30))


def pointer_chain(count):
    """`count` questions: the first names "a", each next one is a pointer to the one
    before, so question k takes k jumps."""
    body = b""
    offsets = []
    at = 12
    for k in range(count):
        offsets.append(at)
        q = question(labels(b"a") if k == 0 else ptr(offsets[k - 1]))
        body += q
        at += len(q)
    return header(qd=count) + body


def dns_seeds():
    h = "fuzz_dns_message"
    write(h, "cname-chain-compressed", CNAME_CHAIN)
    write(h, "a-answer", header(an=1) + question(name("example.org")) + rr(ptr(12), A, ipv4("93.184.215.14")))
    write(h, "aaaa-two-answers", header(an=2) + question(name("example.org"), AAAA)
          + rr(ptr(12), AAAA, ipv6([0x2606, 0x2800, 0x21F, 0xCB07, 0x6820, 0x80DA, 0xAF6B, 0x8B2C]))
          + rr(ptr(12), AAAA, ipv6([0x2001, 0xDB8, 0, 0, 0, 0, 0, 0x53]), ttl=0))
    soa = name("ns.example.org") + name("hostmaster.example.org") + struct.pack("!IIIII", 1, 7200, 900, 1209600, 86400)
    write(h, "nxdomain-with-soa", header(flags=0x8183, ns=1) + question(name("nope.example.org"))
          + rr(name("example.org"), SOA, soa, ttl=3600))
    write(h, "servfail-no-question", header(flags=0x8182, qd=0))
    write(h, "refused-rcode-5", header(flags=0x8185) + question(name("example.org")))
    write(h, "rcode-15", header(flags=0x818F) + question(name("example.org")))
    write(h, "query-not-response", query(0x1234, "example.org", A))
    write(h, "query-aaaa-trailing-garbage", query(0x4321, "www.example.org", AAAA) + b"\xC0\x0C\xFF")
    write(h, "root-question", header(an=1) + question(b"\0", NS) + rr(b"\0", NS, name("a.root-servers.net"), ttl=518400))
    write(h, "root-question-a", header() + question(b"\0"))
    write(h, "edns-opt-additional", header(an=1, ar=1) + question(name("example.org")) + rr(ptr(12), A, ipv4("192.0.2.7"))
          + b"\0" + struct.pack("!HHIH", OPT, 1232, 0, 0))
    write(h, "other-types-and-classes-skipped", header(an=4) + question(name("a.org"))
          + rr(ptr(12), TXT, b"\x01x", ttl=5)
          + rr(ptr(12), A, ipv4("10.0.0.9"), ttl=5, rclass=CH)
          + rr(ptr(12), A, ipv4("10.0.0.1"), ttl=0xFFFFFFFF)
          + rr(ptr(12), A, ipv4("10.0.0.2"), ttl=0x7FFFFFFF))
    write(h, "mixed-case-0x20", header(an=1) + question(name("wWw.ExAmPlE.oRg"))
          + rr(name("WWW.EXAMPLE.ORG"), A, ipv4("192.0.2.2")))
    write(h, "label-escapes", header(an=1) + question(labels(b"a.b", b"back\\slash", b"\x00\x1f \x7f\xff", b"org"))
          + rr(ptr(12), A, ipv4("192.0.2.3")))
    write(h, "pointer-into-cname-rdata", header(an=3) + question(name("www.example.org"))
          + rr(ptr(12), CNAME, compressed(b"edge", b"cdn", to=16))       # "edge" at 45, "cdn" at 50
          + rr(ptr(50), A, ipv4("192.0.2.4"))                             # owner: cdn.example.org
          + rr(ptr(45), A, ipv4("192.0.2.5")))                            # owner: edge.cdn.example.org
    loop = header(an=2) + question(name("a.org"))                         # "a" at 12, "org" at 14
    b_org = len(loop) + 12                                                # the first record's data
    loop += rr(ptr(12), CNAME, compressed(b"b", to=14))               # a.org -> b.org
    loop += rr(ptr(b_org), CNAME, ptr(12))                                # b.org -> a.org
    write(h, "cname-loop", loop)
    chain = header(an=20) + question(name("c0.example"))
    for k in range(20):
        chain += rr(name("c%d.example" % k), CNAME, name("c%d.example" % (k + 1)))
    write(h, "cname-chain-20-hops", chain)
    write(h, "name-255-bytes", header() + question(labels(b"a" * 62, b"b" * 62, b"c" * 62, b"d" * 62, b"e")))
    write(h, "name-256-bytes", header() + question(labels(b"a" * 62, b"b" * 62, b"c" * 62, b"d" * 62, b"ee")))
    write(h, "label-63-bytes", header() + question(labels(b"x" * 63, b"org")))
    write(h, "pointer-chain-128-jumps", pointer_chain(129))
    write(h, "pointer-chain-129-jumps", pointer_chain(130))

    # Malformed: every one of these must be refused (the reference decoder agrees).
    write(h, "pointer-to-itself", header() + ptr(12) + struct.pack("!HH", A, IN))
    write(h, "pointer-loop-label-then-back", header() + b"\x01a" + ptr(12) + struct.pack("!HH", A, IN))
    write(h, "pointer-loop-forward", header() + ptr(14) + ptr(12) + struct.pack("!HH", A, IN))
    write(h, "pointer-into-header", header() + ptr(2) + struct.pack("!HH", A, IN))
    write(h, "pointer-cut", header() + b"\xC0")
    write(h, "label-type-0x40", header() + b"\x41\x00" + struct.pack("!HH", A, IN))
    write(h, "label-type-0x80", header() + b"\x81a\x00" + struct.pack("!HH", A, IN))
    write(h, "label-past-end", header() + b"\x05ab")
    write(h, "no-root-label", header() + b"\x01a\x03org")
    write(h, "question-count-beyond-data", header(qd=2) + question(name("a.org")))
    write(h, "answer-count-beyond-data", header(an=1) + question(name("a.org")))
    write(h, "rdlength-past-end", header(an=1) + question(name("a.org")) + rr(ptr(12), A, b"\x0a\x00", rdlength=4))
    write(h, "a-with-5-bytes", header(an=1) + question(name("a.org")) + rr(ptr(12), A, b"\x0a\x00\x00\x01\x00"))
    write(h, "aaaa-with-4-bytes", header(an=1) + question(name("a.org"), AAAA) + rr(ptr(12), AAAA, ipv4("10.0.0.1")))
    write(h, "cname-longer-than-rdata", header(an=1) + question(name("a.org")) + rr(ptr(12), CNAME, ptr(12), rdlength=1))
    write(h, "cname-shorter-than-rdata", header(an=1) + question(name("a.org")) + rr(ptr(12), CNAME, ptr(12) + b"\0"))
    write(h, "truncated-prefix-60", CNAME_CHAIN[:60])
    write(h, "truncated-in-header", CNAME_CHAIN[:11])
    write(h, "header-only", header(qd=0))
    write(h, "empty", b"")

    # TC set: only the header must be whole; records are kept as far as they are.
    write(h, "tc-counts-beyond-data", header(flags=0x8380, an=2) + question(name("a.org")) + ptr(12) + struct.pack("!H", A))
    write(h, "tc-one-whole-answer-then-cut", header(flags=0x8380, an=3) + question(name("a.org"))
          + rr(ptr(12), A, ipv4("192.0.2.8")) + rr(ptr(12), A, ipv4("192.0.2.9"))[:9])
    write(h, "tc-bad-record-after-good", header(flags=0x8380, an=2) + question(name("a.org"))
          + rr(ptr(12), A, ipv4("192.0.2.10")) + rr(ptr(12), A, b"\x01\x02\x03"))


# --------------------------------------------------------------------------
# HTTP/1.1 responses, as a server writes them on the connection.

def http_seeds():
    h = "fuzz_http1_response"
    crlf = "\r\n"

    def resp(status_line, headers, body=b""):
        head = status_line + crlf + "".join(f"{k}: {v}{crlf}" for k, v in headers) + crlf
        return head.encode("latin-1") + (body if isinstance(body, bytes) else body.encode("latin-1"))

    def chunks(*parts, trailers=(), ext=None):
        out = b""
        for p in parts:
            out += (f"{len(p):x}" + (f";{ext}" if ext else "") + crlf).encode() + p + crlf.encode()
        out += b"0" + crlf.encode() + "".join(f"{k}: {v}{crlf}" for k, v in trailers).encode() + crlf.encode()
        return out

    write(h, "content-length", resp("HTTP/1.1 200 OK", [("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                                                       ("Content-Type", "text/plain"), ("Content-Length", "13")], "Hello, world!"))
    write(h, "content-length-zero", resp("HTTP/1.1 200 OK", [("Content-Length", "0")]))
    write(h, "content-length-body-cut", resp("HTTP/1.1 200 OK", [("Content-Length", "100")], "only part"))
    write(h, "content-length-duplicate-same", resp("HTTP/1.1 200 OK", [("Content-Length", "2"), ("content-length", "2")], "ok"))
    write(h, "content-length-conflict", resp("HTTP/1.1 200 OK", [("Content-Length", "2"), ("Content-Length", "3")], "okk"))
    write(h, "content-length-list", resp("HTTP/1.1 200 OK", [("Content-Length", "2, 2")], "ok"))
    write(h, "content-length-plus", resp("HTTP/1.1 200 OK", [("Content-Length", "+2")], "ok"))
    write(h, "content-length-empty", resp("HTTP/1.1 200 OK", [("Content-Length", "")], "ok"))
    write(h, "content-length-18-digits", resp("HTTP/1.1 200 OK", [("Content-Length", "123456789012345678")], "abc"))
    write(h, "content-length-overflow", resp("HTTP/1.1 200 OK", [("Content-Length", "99999999999999999999")], "abc"))
    write(h, "content-length-padded", resp("HTTP/1.1 200 OK", [("CONTENT-LENGTH", " \t 4 \t")], "four"))
    write(h, "chunked-extensions-trailers",
          resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum")],
               chunks(b"hello", b"abcdefghijklmnopqrstuvwxyz", ext="name=value", trailers=[("X-Checksum", "abc")])))
    write(h, "chunked-uppercase-hex", resp("HTTP/1.1 200 OK", [("transfer-encoding", "ChUnKeD")],
                                           b"1A\r\n" + b"z" * 26 + b"\r\n0\r\n\r\n"))
    write(h, "chunked-bare-lf", b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")
    write(h, "chunked-extension-after-space", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")],
                                                   b"3 ; x=1\r\nabc\r\n0\r\n\r\n"))
    write(h, "chunked-cut-in-data", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"10\r\nonly some"))
    write(h, "chunked-15-hex-digits", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"fffffffffffffff\r\nxyz"))
    write(h, "chunked-16-hex-digits", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"1000000000000000\r\nxyz"))
    write(h, "chunked-bad-size-nonhex", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"zz\r\n"))
    write(h, "chunked-bad-size-negative", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"-1\r\n"))
    write(h, "chunked-bad-empty-size-line", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"\r\n"))
    write(h, "chunked-bad-leading-space", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b" 5\r\nhello\r\n0\r\n\r\n"))
    write(h, "chunked-bad-no-crlf-after-data", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"5\r\nhelloX0\r\n\r\n"))
    write(h, "chunked-bad-cr-cr-after-data", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], b"5\r\nhello\r\r\n0\r\n\r\n"))
    write(h, "chunked-then-garbage", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], chunks(b"ok") + b"EXTRA"))
    write(h, "te-gzip-chunked", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "gzip, chunked")], chunks(b"\x1f\x8b")))
    write(h, "te-chunked-gzip-not-final", resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked, gzip")], b"until close"))
    write(h, "te-and-content-length", resp("HTTP/1.1 200 OK", [("Content-Length", "100"), ("Transfer-Encoding", "chunked")],
                                           chunks(b"smuggled?")))
    write(h, "continue-then-200", resp("HTTP/1.1 100 Continue", []) + resp("HTTP/1.1 200 OK", [("Content-Length", "2")], "ok"))
    write(h, "early-hints-then-chunked",
          resp("HTTP/1.1 103 Early Hints", [("Link", "</style.css>; rel=preload; as=style")])
          + resp("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")], chunks(b"<html></html>")))
    write(h, "two-interim-then-204", resp("HTTP/1.1 100 Continue", []) + resp("HTTP/1.1 102 Processing", [])
          + resp("HTTP/1.1 204 No Content", []))
    write(h, "interim-with-content-length", resp("HTTP/1.1 100 Continue", [("Content-Length", "5")])
          + resp("HTTP/1.1 200 OK", [("Content-Length", "5")], "hello"))
    write(h, "interim-only", resp("HTTP/1.1 100 Continue", []))
    write(h, "switching-protocols-101", resp("HTTP/1.1 101 Switching Protocols", [("Upgrade", "websocket"), ("Connection", "Upgrade")])
          + b"\x81\x05hello")
    write(h, "no-content-204-stray-body", resp("HTTP/1.1 204 No Content", [("Content-Length", "5")], "stray"))
    write(h, "not-modified-304", resp("HTTP/1.1 304 Not Modified", [("ETag", '"abc"'), ("Content-Length", "1234")]))
    write(h, "http10-keep-alive", resp("HTTP/1.0 200 OK", [("Connection", "keep-alive"), ("Content-Length", "3")], "abc"))
    write(h, "http10-until-close", resp("HTTP/1.0 200 OK", [("Server", "old")], "body until the server closes"))
    write(h, "until-close-connection-close", resp("HTTP/1.1 200 OK", [("Connection", "close")], "all of it"))
    write(h, "close-then-keep-alive", resp("HTTP/1.0 200 OK", [("Connection", "close"), ("Connection", "Keep-Alive"),
                                                               ("Content-Length", "0")]))
    write(h, "redirect-location", resp("HTTP/1.1 301 Moved Permanently", [("Location", "  https://example.org/new?a=1  "),
                                                                          ("Content-Length", "0")]))
    write(h, "redirect-relative-location", resp("HTTP/1.1 302 Found", [("location", "/next"), ("Content-Length", "5")], "moved"))
    write(h, "alt-svc-h3", resp("HTTP/1.1 200 OK", [("Alt-Svc", 'h3=":443"; ma=86400, h3-29=":443"'), ("Content-Length", "0")]))
    write(h, "alt-svc-no-h3", resp("HTTP/1.1 200 OK", [("alt-svc", 'h2=":443"'), ("Content-Length", "0")]))
    write(h, "head-response-with-length", resp("HTTP/1.1 200 OK", [("Content-Length", "5000")]))
    write(h, "bare-lf-head", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    write(h, "no-reason-phrase", b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok")
    write(h, "status-999", resp("HTTP/1.1 999 Whatever", [("Content-Length", "1")], "x"))
    write(h, "obs-fold-no-colon", b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  continued\r\nContent-Length: 0\r\n\r\n")
    write(h, "obs-fold-with-colon", b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b: c\r\nContent-Length: 0\r\n\r\n")
    write(h, "space-before-colon", b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello")
    write(h, "header-no-colon", b"HTTP/1.1 200 OK\r\nFoo\r\n\r\n")
    write(h, "header-empty-name", b"HTTP/1.1 200 OK\r\n: value\r\n\r\n")
    write(h, "status-two-digits", b"HTTP/1.1 20 OK\r\n\r\n")
    write(h, "status-letters", b"HTTP/1.1 2x0 OK\r\n\r\n")
    write(h, "http2-status-line", b"HTTP/2 200 OK\r\n\r\n")
    write(h, "lowercase-http", b"http/1.1 200 OK\r\n\r\n")
    write(h, "head-incomplete", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")
    write(h, "pipelined-two-responses", resp("HTTP/1.1 200 OK", [("Content-Length", "1")], "a")
          + resp("HTTP/1.1 200 OK", [("Content-Length", "1")], "b"))
    write(h, "many-headers", resp("HTTP/1.1 200 OK", [("X-H%d" % i, "v" * (i % 40)) for i in range(60)] + [("Content-Length", "0")]))
    write(h, "long-set-cookie", resp("HTTP/1.1 200 OK", [("Set-Cookie", "id=" + "c" * 1500), ("Content-Length", "0")]))
    write(h, "empty", b"")


# --------------------------------------------------------------------------
# Result-upload bodies (POST /api/v1/results, Schemas.resultUpload).

METRICS = ["loss_percent", "latency_ms", "min_ms", "max_ms", "p50_ms", "p99_ms", "jitter_ms", "stddev_ms",
           "connect_ms", "ttfb_ms", "total_ms", "dns_ms", "tls_ms", "quic_handshake_ms", "transfer_ms", "throughput_mbps"]


def dumps(value, pretty=False):
    # ensure_ascii=False: UTF-8 as sent by most clients; the escapes get seeds of their own.
    if pretty:
        return json.dumps(value, indent="\t", ensure_ascii=False).replace("\n", "\r\n")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def result(**fields):
    base = {"test_type": "icmp", "target": "example.org", "outcome": "success", "success": True}
    base.update(fields)
    return base


def upload(*results, **extra):
    body = {"results": list(results)}
    body.update(extra)
    return body


def json_seeds():
    h = "fuzz_schema_parser"
    full = result(test_type="http", protocol_detail="h2", target="https://example.org/", resolved_address="2001:db8::1",
                  created_at=1704067200000, sent=10, received=9, device_id=42,
                  raw={"details": {"status": 200, "tls_version": "TLSv1.3"}, "hops": [{"ttl": 1, "address": None}]},
                  **{m: float(i) + 0.25 for i, m in enumerate(METRICS)})
    write(h, "upload-minimal", dumps(upload(result())))
    write(h, "upload-full", dumps(upload(full, ou_id=7)))
    write(h, "upload-four-kinds", dumps(upload(result(), result(test_type="tcp", outcome="refused", success=False, connect_ms=1.5),
                                               result(test_type="udp", outcome="timeout", success=False, loss_percent=100),
                                               result(test_type="http", outcome="unreachable(3,1)", success=False))))
    write(h, "upload-pretty-crlf-tabs", dumps(upload(full), pretty=True))
    write(h, "upload-bom", b"\xef\xbb\xbf" + dumps(upload(result())).encode())
    write(h, "upload-bom-twice", b"\xef\xbb\xbf\xef\xbb\xbf" + dumps(upload(result())).encode())
    write(h, "upload-keys-reordered", '{"ou_id":null,"results":[{"success":true,"outcome":"success","target":"a","test_type":"udp"}]}')
    write(h, "upload-nulls", dumps(upload(result(resolved_address=None, sent=None, received=None, device_id=None,
                                                 **{m: None for m in METRICS}), ou_id=None)))
    write(h, "upload-unicode-escapes",
          '{"results":[{"test_type":"icmp","target":"\\u00e9xample.\\ud83d\\ude00.org",'
          '"protocol_detail":"\\"\\\\\\/\\b\\f\\n\\r\\t","outcome":"success","success":true,'
          '"raw":{"note":"\\u0000\\u001f\\uFFFF","\\u006b":"key escaped"}}]}')
    write(h, "upload-escaped-known-keys", '{"\\u0072esults":[{"test_\\u0074ype":"icmp","target":"x","outcome":"success",'
                                          '"succes\\u0073":true}]}')
    write(h, "upload-utf8-text", dumps(upload(result(target="bücher.example", protocol_detail="กำ 😀"))))
    write(h, "upload-target-255-code-points", dumps(upload(result(target="é" * 255))))
    write(h, "upload-target-256-code-points", dumps(upload(result(target="é" * 256))))
    write(h, "upload-target-empty", dumps(upload(result(target=""))))
    write(h, "upload-lone-high-surrogate", '{"results":[{"test_type":"icmp","target":"\\ud83d","outcome":"success","success":true}]}')
    write(h, "upload-lone-low-surrogate", '{"results":[{"test_type":"icmp","target":"\\ude00x","outcome":"success","success":true}]}')
    write(h, "upload-lone-surrogate-in-raw", '{"results":[{"test_type":"icmp","target":"a","outcome":"success","success":true,'
                                             '"raw":{"s":"\\ud800"}}]}')
    write(h, "upload-invalid-utf8", b'{"results":[{"test_type":"icmp","target":"\xff","outcome":"success","success":true}]}')
    write(h, "upload-overlong-utf8", b'{"results":[{"test_type":"icmp","target":"\xc0\xaf","outcome":"success","success":true}]}')
    write(h, "upload-raw-control-byte", b'{"results":[{"test_type":"icmp","target":"a\tb","outcome":"success","success":true}]}')
    write(h, "upload-bad-escape", '{"results":[{"test_type":"icmp","target":"\\x41","outcome":"success","success":true}]}')
    write(h, "upload-numbers",
          '{"results":[{"test_type":"tcp","target":"t","outcome":"success","success":true,'
          '"created_at":1.7e12,"sent":8999999999999999,"received":0,'
          '"latency_ms":1E2,"min_ms":0.000001,"max_ms":123456789012345678901234567890,"p50_ms":1.5e-3,'
          '"p99_ms":0,"jitter_ms":0.1,"stddev_ms":9007199254740993,"loss_percent":100,'
          '"connect_ms":1.7976931348623157e308,"ttfb_ms":5e-324,"total_ms":2.2250738585072014e-308}]}')
    write(h, "upload-negative-zero",
          '{"results":[{"test_type":"tcp","target":"t","outcome":"success","success":true,'
          '"created_at":-0,"sent":-0.0,"loss_percent":-0.0,"latency_ms":-0}]}')
    write(h, "upload-integer-beyond-limit",
          '{"results":[{"test_type":"tcp","target":"t","outcome":"success","success":true,"sent":9000000000000000}]}')
    write(h, "upload-integer-as-fraction",
          '{"results":[{"test_type":"tcp","target":"t","outcome":"success","success":true,"sent":1.5}]}')
    write(h, "upload-integer-huge", '{"results":[{"test_type":"tcp","target":"t","outcome":"success","success":true,'
                                    '"created_at":99999999999999999999999}]}')
    write(h, "upload-number-overflow", '{"results":[{"test_type":"tcp","target":"t","outcome":"success","success":true,'
                                       '"latency_ms":1e400}]}')
    write(h, "upload-number-leading-zero", '{"results":[],"ou_id":01}')
    write(h, "upload-number-trailing-dot", '{"results":[],"ou_id":1.}')
    write(h, "upload-number-plus", '{"results":[],"ou_id":+1}')
    write(h, "upload-number-bare-exponent", '{"results":[],"ou_id":1e}')
    write(h, "upload-loss-over-100", dumps(upload(result(loss_percent=100.5))))
    write(h, "upload-negative-metric", dumps(upload(result(latency_ms=-1))))
    write(h, "upload-id-zero", dumps(upload(result(device_id=0), ou_id=0)))
    write(h, "upload-duplicate-key", '{"results":[{"test_type":"icmp","target":"a","target":"b","outcome":"success","success":true}]}')
    write(h, "upload-unknown-field", dumps(upload(result(colour="blue"))))
    write(h, "upload-unknown-escaped-key", '{"results":[],"\\u0078":1}')
    write(h, "upload-empty-results", dumps(upload()))
    write(h, "upload-missing-required", '{"results":[{"target":"a"}]}')
    write(h, "upload-no-results", "{}")
    write(h, "upload-wrong-types",
          '{"results":[{"test_type":1,"protocol_detail":[],"target":{},"resolved_address":true,"outcome":null,'
          '"success":"yes","created_at":"now","sent":-1,"received":1.25,"latency_ms":"1","device_id":[1],"raw":[1]}],'
          '"ou_id":"7"}')
    write(h, "upload-results-not-array", '{"results":{"0":{}}}')
    write(h, "upload-outcome-bad-pattern", dumps(upload(result(outcome="success\n"), result(outcome="Unreachable(3)"),
                                                      result(outcome="unreachable()"), result(outcome="a(1)x"))))
    write(h, "upload-test-type-unknown", dumps(upload(result(test_type="dns"))))
    write(h, "upload-many-problems", dumps(upload(*[result(success="no", sent=-1) for _ in range(30)])))
    write(h, "upload-raw-nested", dumps(upload(result(raw={"a": [1, {"b": [True, False, None, "s", -1.5e-7]}, []], "c": {}}))))
    deep = lambda n: '{"results":[{"test_type":"icmp","target":"a","outcome":"success","success":true,"raw":' + \
        '{"a":' * (n - 1) + "{}" + "}" * (n - 1) + "}]}"
    for n in (61, 62, 63):
        write(h, "upload-raw-depth-%d" % n, deep(n))
    write(h, "deep-array-10", "[" * 10 + "]" * 10)
    write(h, "deep-array-70", "[" * 70 + "]" * 70)
    write(h, "not-object-array", "[1,2,3]")
    write(h, "not-object-string", '"results"')
    write(h, "not-object-number", "42")
    write(h, "not-object-null", "null")
    write(h, "trailing-garbage", dumps(upload(result())) + "x")
    write(h, "trailing-comma", '{"results":[{"test_type":"icmp","target":"a","outcome":"success","success":true},]}')
    write(h, "two-documents", dumps(upload(result())) + dumps(upload(result())))
    write(h, "truncated", dumps(upload(full))[:150])
    write(h, "unterminated-string", '{"results":[{"test_type":"icmp')
    write(h, "whitespace-only", " \r\n\t ")
    write(h, "empty", b"")


if __name__ == "__main__":
    dns_seeds()
    http_seeds()
    json_seeds()
