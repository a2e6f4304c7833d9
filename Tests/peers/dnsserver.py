"""A DNS server for loopback tests of the stub resolver (standard library only).

Answers over UDP and TCP on the same port from a built-in zone, `test.`:

  a.test.          A 127.0.0.1, AAAA ::1 (ttl 60)
  alias.test.      CNAME a.test., with a.test.'s records of the asked type
  nx.test.         NXDOMAIN
  servfail.test.   SERVFAIL
  slow.test.       A 127.0.0.2, every answer sent 50 ms after the query
  drop-once.test.  A 127.0.0.3; over UDP every other query for the same
                   name and type is dropped, the first one included, so a
                   client must retry (from any socket, with any id)
  big.test.        UDP: TC set and no answers; TCP: 40 A records
                   10.0.0.1 ... 10.0.0.40
  h.test.          A 127.0.0.1 (for HTTP tests)

Other names under test. are NXDOMAIN, names that exist without the asked
type are NOERROR with no answers (both with the SOA of test. in the authority
section, for negative caching); names outside test. are REFUSED. Responses
echo the id and the question as sent (case included), copy RD, set QR, AA
and RA, and compress every name against the earlier ones. No EDNS: a UDP
response over 512 bytes is sent as TC with no records. Over TCP each query is
length-prefixed; a connection may carry several, answered as they are ready
(out of order when one is slow, which RFC 7766 allows).

  --port P     UDP and TCP port (0: pick a free one); the chosen port is
               printed as "listening on HOST:PORT"
  --host H     address to listen on, repeatable (default 127.0.0.1)
  --log FILE   one line per query: transport, client, id, name, type, what
               was done, and how many queries that name has had so far
"""
import argparse
import asyncio
import collections
import ipaddress
import socket
import struct
import sys
import time

TTL = 60
SLOW_SECONDS = 0.05
UDP_LIMIT = 512
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
ANY = 255
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

ZONE = {
    "test": [("SOA", ("ns.test", "hostmaster.test", 1, 3600, 600, 86400, TTL))],
    "a.test": [("A", "127.0.0.1"), ("AAAA", "::1")],
    "alias.test": [("CNAME", "a.test")],
    "slow.test": [("A", "127.0.0.2")],
    "drop-once.test": [("A", "127.0.0.3")],
    "big.test": [("A", "10.0.0.%d" % i) for i in range(1, 41)],
    "h.test": [("A", "127.0.0.1")],
}
FIXED_RCODES = {"nx.test": 3, "servfail.test": 2}

query_counts = collections.Counter()   # name -> queries seen (UDP and TCP)
udp_drop_counts = collections.Counter()  # (name, type) -> drop-once.test UDP queries
log_file = None


class FormatError(Exception):
    pass


def labels_of(name):
    return [part.encode() for part in name.split(".") if part]


class Writer:
    """Builds a message, compressing each name against the names before it."""

    def __init__(self):
        self.buf = bytearray()
        self.suffixes = {}

    def name(self, labels):
        for i in range(len(labels)):
            key = tuple(label.lower() for label in labels[i:])
            if key in self.suffixes:
                self.buf += struct.pack("!H", 0xC000 | self.suffixes[key])
                return
            if len(self.buf) < 0x4000:
                self.suffixes[key] = len(self.buf)
            self.buf += bytes([len(labels[i])]) + labels[i]
        self.buf.append(0)

    def record(self, owner, rtype, value):
        self.name(owner)
        self.buf += struct.pack("!HHIH", TYPES[rtype], 1, TTL, 0)
        start = len(self.buf)
        if rtype == "A" or rtype == "AAAA":
            self.buf += ipaddress.ip_address(value).packed
        elif rtype == "CNAME":
            self.name(labels_of(value))
        elif rtype == "SOA":
            mname, rname, *numbers = value
            self.name(labels_of(mname))
            self.name(labels_of(rname))
            self.buf += struct.pack("!5I", *numbers)
        struct.pack_into("!H", self.buf, start - 2, len(self.buf) - start)


def parse_query(data):
    """(id, flags, labels, qtype, qclass) of a query; FormatError if unreadable."""
    if len(data) < 12:
        raise FormatError("short header")
    qid, flags, qdcount = struct.unpack("!3H", data[:6])
    if qdcount != 1:
        raise FormatError("%d questions" % qdcount)
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            raise FormatError("name runs past the end")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 or pos + 1 + length > len(data):
            raise FormatError("bad label")
        labels.append(bytes(data[pos + 1:pos + 1 + length]))
        pos += 1 + length
    if pos + 4 > len(data):
        raise FormatError("question runs past the end")
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    return qid, flags, labels, qtype, qclass


def lookup(name, qtype):
    """(rcode, answers, authority) as lists of (owner name, type, value)."""
    if name != "test" and not name.endswith(".test"):
        return 5, [], []
    soa = [("test", "SOA", ZONE["test"][0][1])]
    if name in FIXED_RCODES:
        return FIXED_RCODES[name], [], soa if FIXED_RCODES[name] == 3 else []
    if name not in ZONE:
        return 3, [], soa
    answers, owner = [], name
    for _ in range(8):
        records = ZONE.get(owner, [])
        alias = [value for rtype, value in records if rtype == "CNAME"]
        if alias and qtype not in (TYPES["CNAME"], ANY):
            answers.append((owner, "CNAME", alias[0]))
            owner = alias[0]
            continue
        answers += [(owner, rtype, value) for rtype, value in records if qtype in (TYPES[rtype], ANY)]
        break
    return 0, answers, [] if answers else soa


def respond(data, transport):
    """(response bytes or None to drop, delay in seconds, log text)."""
    try:
        qid, qflags, labels, qtype, qclass = parse_query(data)
    except FormatError as error:
        if len(data) < 12 or data[2] & 0x80:
            return None, 0, "ignored (%s)" % error
        # Header only: id, QR, opcode and RD copied, RA, FORMERR.
        flags = 0x8000 | (data[2] << 8 & 0x7900) | 0x0080 | 1
        return struct.pack("!6H", struct.unpack("!H", data[:2])[0], flags, 0, 0, 0, 0), 0, "FORMERR (%s)" % error
    if qflags & 0x8000:
        return None, 0, "ignored (a response)"
    name = b".".join(labels).decode("ascii", "backslashreplace").lower()
    type_name = TYPE_NAMES.get(qtype, str(qtype))
    query_counts[name] += 1
    describe = "id=%d %s %s" % (qid, name or ".", type_name)

    opcode = qflags & 0x7800
    if opcode != 0:
        rcode, answers, authority = 4, [], []
    elif qclass != 1:
        rcode, answers, authority = 5, [], []
    else:
        rcode, answers, authority = lookup(name, qtype)
    delay, notes = 0, []
    if name == "slow.test":
        delay = SLOW_SECONDS
        notes.append("delayed %d ms" % (SLOW_SECONDS * 1000))
    if transport == "udp" and name == "drop-once.test":
        udp_drop_counts[(name, qtype)] += 1
        if udp_drop_counts[(name, qtype)] % 2 == 1:
            return None, 0, "%s dropped (query %d)" % (describe, query_counts[name])

    def build(truncated, answers, authority):
        flags = 0x8000 | opcode | 0x0400 | (qflags & 0x0100) | 0x0080 | rcode | (0x0200 if truncated else 0)
        w = Writer()
        w.buf += struct.pack("!6H", qid, flags, 1, len(answers), len(authority), 0)
        w.name(labels)
        w.buf += struct.pack("!HH", qtype, qclass)
        for owner, rtype, value in answers + authority:
            # The question's own spelling, so owners compress to a pointer to it.
            w.record(labels if owner == name else labels_of(owner), rtype, value)
        return bytes(w.buf)

    message = build(False, answers, authority)
    truncated = transport == "udp" and (name == "big.test" and bool(answers) or len(message) > UDP_LIMIT)
    if truncated:
        message = build(True, [], [])
        notes.append("TC")
    text = "%s -> %s an=%d%s (query %d)" % (
        describe, RCODE_NAMES.get(rcode, rcode), 0 if truncated else len(answers),
        "".join(" " + n for n in notes), query_counts[name])
    return message, delay, text


def log(transport, peer, text):
    if log_file:
        stamp = time.strftime("%H:%M:%S") + ".%03d" % (time.time() % 1 * 1000)
        log_file.write("%s %s %s %s\n" % (stamp, transport, "%s:%d" % peer[:2], text))
        log_file.flush()


class UDPServer(asyncio.DatagramProtocol):
    def __init__(self):
        self.tasks = set()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        task = asyncio.get_running_loop().create_task(self.answer(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def answer(self, data, addr):
        message, delay, text = respond(data, "udp")
        log("udp", addr, text)
        if delay:
            await asyncio.sleep(delay)
        if message is not None:
            self.transport.sendto(message, addr)


async def tcp_client(reader, writer):
    peer = writer.get_extra_info("peername")
    pending = set()

    async def answer(data):
        message, delay, text = respond(data, "tcp")
        log("tcp", peer, text)
        if delay:
            await asyncio.sleep(delay)
        if message is not None and not writer.is_closing():
            writer.write(struct.pack("!H", len(message)) + message)  # one write: frames never interleave

    try:
        while True:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            task = asyncio.create_task(answer(await reader.readexactly(length)))
            pending.add(task)
            task.add_done_callback(pending.discard)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    try:
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    except ConnectionError:
        pass


def bind_pair(hosts, port):
    """UDP and TCP sockets on every host, all on one port (picked if 0)."""
    for _ in range(50):
        sockets, chosen = [], port
        try:
            for host in hosts:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                udp = socket.socket(family, socket.SOCK_DGRAM)
                sockets.append(udp)
                udp.bind((host, chosen))
                chosen = udp.getsockname()[1]
                tcp = socket.socket(family, socket.SOCK_STREAM)
                sockets.append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, chosen))
                tcp.listen(128)
            return sockets, chosen
        except OSError:
            for s in sockets:
                s.close()
            if port != 0:
                raise
    raise OSError("no port free for both UDP and TCP")


async def main():
    global log_file
    p = argparse.ArgumentParser(description="DNS server for the resolver's loopback tests")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", action="append")
    p.add_argument("--log")
    args = p.parse_args()
    hosts = args.host or ["127.0.0.1"]
    if args.log:
        log_file = open(args.log, "a", buffering=1)
    sockets, port = bind_pair(hosts, args.port)
    loop = asyncio.get_running_loop()
    servers = []
    for s in sockets:
        if s.type == socket.SOCK_DGRAM:
            await loop.create_datagram_endpoint(UDPServer, sock=s)
        else:
            servers.append(await asyncio.start_server(tcp_client, sock=s))
    for host in hosts:
        print("listening on %s:%d udp+tcp" % ("[%s]" % host if ":" in host else host, port), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
