#!/usr/bin/env python3
"""Writes the seed corpus of the CProbe fuzz harnesses (Fuzz/corpus/<harness>/).

Each seed is a small, named, valid or edge-case input in the byte format its
harness documents at the top of Fuzz/cprobe/<harness>.c. Running this again
rewrites the same bytes (nothing random), so the committed seeds are
reproducible; files it does not name (inputs merged in by
`FUZZ_MERGE=1 scripts/fuzz.sh`, named by their SHA-1) are left alone.

Usage: python3 Fuzz/make-seeds.py   (stdlib only)
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# Linux constants the harnesses and the kernel use.
AF_INET, AF_INET6 = 2, 10
SOL_SOCKET, SOL_IP, SOL_IPV6 = 1, 0, 41
SCM_TIMESTAMPNS, SCM_TIMESTAMPING = 35, 37
IP_TTL, IP_PKTINFO, IP_RECVERR = 2, 8, 11
IPV6_RECVERR, IPV6_HOPLIMIT = 25, 52
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6, SO_EE_ORIGIN_TIMESTAMPING = 2, 3, 4
ENOMSG, ECONNREFUSED, EHOSTUNREACH = 42, 111, 113

MAGIC = 0x57414444  # "WADD", the magic fuzz_errqueue scans for


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# --------------------------------------------------------------------------
# Packets, as the kernel and cprobe_icmp_build_echo lay them out.

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("!H", ~s & 0xFFFF)


def tag(magic=0x00000001, slot=2, generation=3, sequence=4):
    return struct.pack("!IIII", magic, slot, generation, sequence)


def payload(size=56, t=None):
    """A probe payload: the tag, then the i & 0xff fill the builder writes."""
    t = t if t is not None else tag()
    return t + bytes(i & 0xFF for i in range(16, size))


def echo(icmp_type, ident=0x1234, seq=77, size=56, t=None, v4_checksum=True):
    body = payload(size, t)
    head = struct.pack("!BBHHH", icmp_type, 0, 0, ident, seq)
    if v4_checksum:
        head = head[:2] + checksum(head + body) + head[4:]
    return head + body


def ipv4(src, dst, proto=1, ttl=64, body_len=0, options=b""):
    ihl = 5 + len(options) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + body_len, 0x1C46, 0x4000,
                    ttl, proto, 0, bytes(src), bytes(dst)) + options
    return h[:10] + checksum(h) + h[12:]


def ipv6(src, dst, next_header=58, hop=64, body_len=0):
    return struct.pack("!IHBB16s16s", 0x60000000, body_len, next_header, hop, bytes(src), bytes(dst))


def icmp_error(icmp_type, code, quoted, rest=b"\0\0\0\0"):
    head = struct.pack("!BBH", icmp_type, code, 0) + rest
    return head + quoted


def udp(sport, dport, body):
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


HOST4, TARGET4, ROUTER4 = [192, 0, 2, 1], [192, 0, 2, 7], [198, 51, 100, 1]
HOST6 = [0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [1]
TARGET6 = [0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [7]
ROUTER6 = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 1]


# --------------------------------------------------------------------------
# fuzz_icmp_parse: u8 socket kind (0 v4 ping, 1 v4 raw, 2 v6, 3 v6 + header
# flag), then the datagram.

def icmp_parse_seeds():
    h = "fuzz_icmp_parse"
    req4 = echo(8, seq=9, size=56)
    rep4 = echo(0, size=56)
    req6 = echo(128, seq=9, size=56, v4_checksum=False)
    rep6 = echo(129, size=56, v4_checksum=False)
    quoted4 = ipv4(HOST4, TARGET4, 1, ttl=1, body_len=len(req4)) + req4
    quoted6 = ipv6(HOST6, TARGET6, 58, hop=1, body_len=len(req6)) + req6

    write(h, "v4-ping-echo-reply", b"\0" + rep4)
    write(h, "v4-raw-echo-reply", b"\1" + ipv4(TARGET4, HOST4, 1, ttl=57, body_len=len(rep4)) + rep4)
    write(h, "v4-raw-echo-reply-ip-options",
          b"\1" + ipv4(TARGET4, HOST4, 1, ttl=57, body_len=len(rep4), options=b"\1\1\1\0") + rep4)
    err = icmp_error(11, 0, quoted4)
    write(h, "v4-raw-time-exceeded", b"\1" + ipv4(ROUTER4, HOST4, 1, ttl=250, body_len=len(err)) + err)
    write(h, "v4-ping-time-exceeded", b"\0" + err)
    write(h, "v4-ping-dest-unreach", b"\0" + icmp_error(3, 1, quoted4))
    write(h, "v4-param-problem", b"\0" + icmp_error(12, 0, quoted4, rest=b"\x08\0\0\0"))
    # RFC 792's minimum quote: the IP header and 8 bytes, so no tag.
    write(h, "v4-time-exceeded-8-bytes", b"\0" + icmp_error(11, 0, quoted4[:28]))
    write(h, "v4-time-exceeded-cut-in-tag", b"\0" + icmp_error(11, 0, quoted4[:36]))
    udp4 = ipv4(HOST4, TARGET4, 17, body_len=8 + 56) + udp(40000, 7, payload())
    write(h, "v4-error-quoting-udp", b"\0" + icmp_error(3, 3, udp4))
    write(h, "v4-echo-request", b"\0" + req4)
    write(h, "v4-timestamp-request", b"\0" + struct.pack("!BBHHHIII", 13, 0, 0, 1, 1, 0, 0, 0))
    write(h, "v4-truncated-7", b"\0" + rep4[:7])
    write(h, "v4-raw-truncated-ip-header", b"\1" + ipv4(TARGET4, HOST4)[:19])
    write(h, "v4-raw-ihl-past-end", b"\1" + bytes([0x4F]) + ipv4(TARGET4, HOST4)[1:] + rep4[:20])
    write(h, "v4-raw-ihl-4", b"\1" + bytes([0x44]) + ipv4(TARGET4, HOST4)[1:] + rep4)
    write(h, "v4-quoted-header-truncated", b"\0" + icmp_error(11, 0, quoted4[:19]))
    write(h, "v4-quoted-ihl-past-end", b"\0" + icmp_error(11, 0, bytes([0x4F]) + quoted4[1:30]))
    write(h, "v6-echo-reply", b"\2" + rep6)
    write(h, "v6-time-exceeded", b"\2" + icmp_error(3, 0, quoted6))
    write(h, "v6-packet-too-big", b"\2" + icmp_error(2, 0, quoted6, rest=struct.pack("!I", 1280)))
    write(h, "v6-dest-unreach-8-bytes", b"\2" + icmp_error(1, 4, quoted6[:48]))
    write(h, "v6-param-problem", b"\2" + icmp_error(4, 0, quoted6, rest=struct.pack("!I", 40)))
    udp6 = ipv6(HOST6, TARGET6, 17, body_len=8 + 56) + udp(40000, 7, payload())
    write(h, "v6-error-quoting-udp", b"\2" + icmp_error(1, 4, udp6))
    write(h, "v6-echo-request", b"\2" + req6)
    write(h, "v6-quoted-header-truncated", b"\2" + icmp_error(3, 0, quoted6[:39]))
    write(h, "v6-with-header-flag", b"\3" + rep6)
    write(h, "empty", b"\0")
    # Regressions (packet.c parse_quoted, found by this harness): a quoted
    # IPv4 header with IHL 2 put the "ICMP header" inside the IP header (TTL
    # 8 and protocol 1 read as echo request type/code) and was accepted; a
    # quoted "IPv6" header of version 4 was accepted.
    bogus = bytearray(quoted4[:48])
    bogus[0] = 0x42
    bogus[8] = 8
    write(h, "regress-v4-quoted-ihl-2", b"\0" + icmp_error(11, 0, bytes(bogus)))
    bogus6 = bytearray(quoted6)
    bogus6[0] = 0x45
    write(h, "regress-v6-quoted-version-4", b"\2" + icmp_error(3, 0, bytes(bogus6)))


# --------------------------------------------------------------------------
# fuzz_payload: u32 magic, u32 initial sum, u8 checksum field offset, payload.

def payload_seeds():
    h = "fuzz_payload"

    def seed(name, body, magic=MAGIC, initial=0, field=0):
        write(h, name, struct.pack("!IIB", magic, initial, field) + body)

    tagged = payload(56, tag(MAGIC, 2, 3, 4))
    seed("tag-at-start", tagged)
    seed("tag-after-ipv4-udp", ipv4(HOST4, TARGET4, 17, body_len=64) + udp(40000, 7, tagged))
    seed("tag-after-ipv6-udp", ipv6(HOST6, TARGET6, 17, body_len=64) + udp(40000, 7, tagged))
    seed("tag-in-icmp-echo", echo(8, t=tag(MAGIC, 9, 9, 9)))
    seed("no-tag", bytes((i * 37) & 0xFF for i in range(64)))
    seed("magic-too-close-to-end", bytes(40) + struct.pack("!I", MAGIC) + bytes(11))
    seed("short-15", tagged[:15])
    seed("exactly-16", tagged[:16])
    seed("rfc1071-example", bytes([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]))
    seed("odd-length", ipv4(HOST4, TARGET4)[:20] + b"\x99", field=5)
    seed("pseudo-header-sum", udp(40000, 7, tagged), initial=0x0001A2C4, field=3)
    seed("all-ones", b"\xff" * 33, initial=0xFFFFFFFF, field=7)


# --------------------------------------------------------------------------
# fuzz_icmp_build: u8 flags, u16 id, u16 seq, tag, u16 payload, u16 cap,
# u16 new seq, new tag, u8 quote, u8 ttl, 16-byte destination.

def icmp_build_seeds():
    h = "fuzz_icmp_build"

    def seed(name, flags=0, ident=0x1234, seq=1, size=56, cap=128, seq2=2, quote=255, ttl=64,
             dest=TARGET4 + [0] * 12):
        write(h, name, struct.pack("!BHH", flags, ident, seq) + tag(MAGIC, 1, 2, 3) +
              struct.pack("!HHH", size, cap, seq2) + tag(MAGIC, 4, 5, 6) +
              struct.pack("!BB", quote, ttl) + bytes(dest))

    seed("v4-default")
    seed("v4-quote-8-no-tag", quote=8)
    seed("v4-quote-exact-tag", quote=24)
    seed("v4-quote-4-invalid", quote=4)
    seed("v4-raw-3-option-words", flags=3 << 3, ttl=1)
    seed("v4-time-exceeded", flags=1 << 1)
    seed("v6-default", flags=1, dest=TARGET6)
    seed("v6-packet-too-big", flags=1 | 1 << 1, dest=TARGET6)
    seed("v6-quote-8", flags=1, quote=8, dest=TARGET6)
    seed("enospc", size=200, cap=100)
    seed("tiny-payload-exact-cap", size=0, cap=24)
    seed("exact-cap-minus-one", size=56, cap=63)
    seed("largest", size=599, cap=699, quote=255)
    seed("zero-cap", size=0, cap=0)


# --------------------------------------------------------------------------
# fuzz_errqueue and fuzz_recvmsg_cmsg: control buffers.

def sockaddr_in(addr, port=0):
    return struct.pack("<H", AF_INET) + struct.pack("!H", port) + bytes(addr) + bytes(8)


def sockaddr_in6(addr, port=0):
    return struct.pack("<H", AF_INET6) + struct.pack("!HI", port, 0) + bytes(addr) + struct.pack("<I", 0)


def ee(errno, origin, icmp_type=0, code=0, info=0, data=0):
    """struct sock_extended_err, native (little-endian) order."""
    return struct.pack("<IBBBBII", errno, origin, icmp_type, code, 0, info, data)


def timespec(sec, nsec):
    return struct.pack("<qq", sec, nsec)


def cmsg(kind, data=None, natural=True, level=None, ctype=None):
    """One control message for fz_fill_control: kind, length, data."""
    out = bytes([kind])
    if natural:
        out += b"\x80"
    else:
        out += bytes([len(data)])
    if level is not None:
        out += struct.pack("!ii", level, ctype)
    return out + (data or b"")


def control(*cmsgs):
    assert len(cmsgs) <= 7
    return bytes([len(cmsgs) << 1]) + b"".join(cmsgs)


def raw_control(data):
    return bytes([1, len(data)]) + data


# fuzz_errqueue kinds: 0 SCM_TIMESTAMPING, 1 IP_RECVERR, 2 IPV6_RECVERR,
# 3 SCM_TIMESTAMPNS, 4 IP_PKTINFO, 5 any (level, type follow).
EQ_ANY = 5


def eq_message(flags, packet, name=b"", ctl=b"\0"):
    return bytes([flags, len(packet)]) + packet + name + ctl


def errqueue_seeds():
    h = "fuzz_errqueue"
    probe4 = payload(56, tag(MAGIC, 12, 1, 300))
    looped4 = ipv4(HOST4, TARGET4, 17, body_len=64) + udp(40000, 7, probe4)
    looped6 = ipv6(HOST6, TARGET6, 17, body_len=64) + udp(40000, 7, probe4)
    ts = cmsg(0, timespec(1700000000, 123456789) + timespec(0, 0) + timespec(0, 0))
    tx4 = eq_message(1, looped4, sockaddr_in(TARGET4, 7),
                     control(ts, cmsg(1, ee(ENOMSG, SO_EE_ORIGIN_TIMESTAMPING, data=41) + bytes(16))))
    tx6 = eq_message(3, looped6, sockaddr_in6(TARGET6, 7),
                     control(ts, cmsg(2, ee(ENOMSG, SO_EE_ORIGIN_TIMESTAMPING, data=42) + bytes(28))))
    refused4 = eq_message(1, probe4, sockaddr_in(TARGET4, 7),
                          control(cmsg(1, ee(ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3) + sockaddr_in(TARGET4))))
    ttl4 = eq_message(1, echo(8, t=tag(MAGIC, 5, 1, 1)), sockaddr_in(TARGET4),
                      control(cmsg(1, ee(EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 11, 0) + sockaddr_in(ROUTER4))))
    unreach6 = eq_message(3, probe4, sockaddr_in6(TARGET6, 7),
                          control(cmsg(2, ee(ECONNREFUSED, SO_EE_ORIGIN_ICMP6, 1, 4) + sockaddr_in6(TARGET6))))
    write(h, "tx-timestamp-udp4", b"\0" + tx4)
    write(h, "tx-timestamp-udp6", b"\0" + tx6)
    write(h, "icmp-port-unreachable-udp4", b"\0" + refused4)
    write(h, "icmp-time-exceeded-ping4", b"\0" + ttl4)
    write(h, "icmp6-port-unreachable-udp6", b"\0" + unreach6)
    write(h, "mixed-queue", b"\0" + tx4 + refused4 + tx6 + unreach6 + ttl4)
    write(h, "no-name-no-control", b"\0" + eq_message(0, probe4))
    write(h, "with-pktinfo-and-timestampns",
          b"\0" + eq_message(1, probe4, sockaddr_in(TARGET4),
                             control(cmsg(3, timespec(1, 2)), cmsg(4, bytes(12)),
                                     cmsg(1, ee(ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3) + sockaddr_in(TARGET4)))))
    write(h, "payload-over-iovec", b"\0" + eq_message(1, bytes(range(250)), sockaddr_in(TARGET4)))
    small = eq_message(0, tag(MAGIC, 1, 1, 1), b"", control(ts))
    write(h, "two-batches-70", b"\0" + small * 70)
    write(h, "max-1-of-3", b"\1" + small * 3)
    write(h, "max-65-batch-then-fail",
          bytes([65]) + small * 64 + bytes([0x08 | 2 << 4]))  # EBADF after a full batch
    write(h, "batch-ends-early", b"\0" + small * 3 + bytes([0x04]) + small[1:] + small)
    write(h, "fail-ebadf", b"\0" + bytes([0x08 | 2 << 4]))
    write(h, "fail-eintr", b"\0" + bytes([0x08]))
    write(h, "empty-queue", b"\0")
    write(h, "raw-control-one-header",
          b"\0" + eq_message(0, b"", b"", raw_control(struct.pack("<QII", 16, SOL_IP, IP_RECVERR))))
    write(h, "raw-control-overlong-len",
          b"\0" + eq_message(0, b"", b"", raw_control(struct.pack("<QII", 4096, SOL_IP, IP_RECVERR) + bytes(16))))
    write(h, "unknown-cmsg", b"\0" + eq_message(0, b"x", b"", control(cmsg(EQ_ANY, b"abc", False, 99, 99))))
    # Regressions (socket.c cprobe_errqueue_drain, found by this harness):
    # the kernel cuts the last control message to the room left (cmsg_len
    # included, MSG_CTRUNC); the drain read a whole sock_extended_err /
    # scm_timestamping from a cut one, and the offender room computed from
    # cmsg_len wrapped around. 144 + 88 bytes of other messages leave 24 of
    # the 256-byte buffer.
    filler = cmsg(EQ_ANY, bytes(127), False, SOL_IPV6, 50) + cmsg(EQ_ANY, bytes(72), False, SOL_IPV6, 50)
    write(h, "regress-ctrunc-recverr",
          b"\0" + eq_message(1, probe4, sockaddr_in(TARGET4),
                             bytes([3 << 1]) + filler +
                             cmsg(1, ee(ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3) + sockaddr_in(TARGET4))))
    write(h, "regress-ctrunc-timestamping",
          b"\0" + eq_message(1, probe4, sockaddr_in(TARGET4), bytes([3 << 1]) + filler + ts))
    write(h, "regress-short-timestamping",
          b"\0" + eq_message(0, b"", b"", control(cmsg(0, b"", False))))


# fuzz_recvmsg_cmsg: u8 flags, then the control buffer; kinds 0
# SCM_TIMESTAMPNS, 1 IP_TTL, 2 IPV6_HOPLIMIT, 3 IP_RECVERR, 4 any.
RM_ANY = 4


def recvmsg_seeds():
    h = "fuzz_recvmsg_cmsg"
    now = cmsg(0, timespec(1700000000, 987654321))
    write(h, "v4-timestamp-and-ttl", b"\0" + control(now, cmsg(1, struct.pack("<i", 57))))
    write(h, "v6-timestamp-and-hoplimit", b"\0" + control(now, cmsg(2, struct.pack("<i", 64))))
    write(h, "ttl-only", b"\0" + control(cmsg(1, struct.pack("<i", 1))))
    write(h, "timestamp-only", b"\0" + control(now))
    write(h, "no-control", b"\0" + control())
    write(h, "msg-trunc", b"\1" + control(now, cmsg(1, struct.pack("<i", 255))))
    write(h, "with-unknown-cmsg",
          b"\0" + control(cmsg(RM_ANY, b"\0" * 12, False, SOL_IP, IP_PKTINFO), now, cmsg(1, struct.pack("<i", 57))))
    write(h, "raw-header-only", b"\0" + raw_control(struct.pack("<QII", 16, SOL_SOCKET, SCM_TIMESTAMPNS)))
    write(h, "raw-overlong-len", b"\0" + raw_control(struct.pack("<QII", 1000, SOL_IP, IP_TTL) + bytes(8)))
    # Regressions (ring.c parse_recvmsg, found by this harness): a control
    # message the kernel cut to the room left (112 bytes of others leave 16
    # of the 128) was read as a whole timespec / int past the buffer.
    filler = cmsg(RM_ANY, bytes(96), False, SOL_IP, IP_PKTINFO)
    write(h, "regress-ctrunc-timestampns", b"\0" + control(filler, now))
    write(h, "regress-ctrunc-ttl", b"\0" + control(filler, cmsg(1, struct.pack("<i", 57))))


if __name__ == "__main__":
    icmp_parse_seeds()
    payload_seeds()
    icmp_build_seeds()
    errqueue_seeds()
    recvmsg_seeds()
    for h in sorted(os.listdir(ROOT)):
        print("%-20s %3d files" % (h, len(os.listdir(os.path.join(ROOT, h)))))
