"""An HTTP/3 peer with the behaviours gtlsserver lacks (aioquic, from PyPI).

    h3peer.py --port PORT --v2-port PORT2 --cert PEM --key KEY [--log FILE]

PORT speaks QUIC v1 + HTTP/3 with the given certificate:
  /small            200, "hello world\\n" (content-length set)
  /echo             200, the request body back (content-length set)
  /redirect/N       N > 0: 302 to /redirect/N-1; N = 0: 200 "arrived\\n"
  /slow             waits exactly 50 ms, then 200 "slow\\n"
  /silent           never answers; the connection stays open
  /reset-midbody    headers promising 10000 bytes, 1000 of them, then
                    RESET_STREAM H3_INTERNAL_ERROR (0x102)
  /close-midbody    headers promising 10000 bytes, 1000 of them, then
                    CONNECTION_CLOSE (application) H3_EXCESSIVE_LOAD (0x107)
                    with reason "closing on purpose"
  other             404
PORT2 speaks only QUIC version 2 (RFC 9369): a version 1 client is answered
with Version Negotiation.
"""
import argparse
import asyncio
import logging

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated
from aioquic.quic.packet import QuicProtocolVersion

log = logging.getLogger("h3peer")
H3_INTERNAL_ERROR = 0x102
H3_EXCESSIVE_LOAD = 0x107


class Peer(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = None
        self.requests = {}  # stream id -> [headers, body]

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self.http = H3Connection(self._quic)
        if self.http is None:
            return
        for e in self.http.handle_event(event):
            if isinstance(e, HeadersReceived):
                self.requests[e.stream_id] = [dict(e.headers), b""]
            elif isinstance(e, DataReceived) and e.stream_id in self.requests:
                self.requests[e.stream_id][1] += e.data
            else:
                continue
            if e.stream_ended:
                headers, body = self.requests.pop(e.stream_id)
                self.handle(e.stream_id, headers, body)

    def respond(self, stream, status, body=b"", extra=(), length=None, end=True):
        headers = [(b":status", str(status).encode()),
                   (b"content-length", str(len(body) if length is None else length).encode())]
        self.http.send_headers(stream_id=stream, headers=headers + list(extra))
        self.http.send_data(stream_id=stream, data=body, end_stream=end)
        self.transmit()

    def handle(self, stream, headers, body):
        path = headers.get(b":path", b"/").decode()
        log.info("stream %d %s %s (%d body bytes)", stream, headers.get(b":method", b"?").decode(), path, len(body))
        loop = asyncio.get_running_loop()
        if path == "/small":
            self.respond(stream, 200, b"hello world\n")
        elif path == "/echo":
            self.respond(stream, 200, body)
        elif path.startswith("/redirect/") and path[len("/redirect/"):].isdigit():
            n = int(path[len("/redirect/"):])
            if n == 0:
                self.respond(stream, 200, b"arrived\n")
            else:
                self.respond(stream, 302, extra=[(b"location", f"/redirect/{n - 1}".encode())])
        elif path == "/slow":
            loop.call_later(0.05, self.respond, stream, 200, b"slow\n")
        elif path == "/silent":
            pass
        elif path in ("/reset-midbody", "/close-midbody"):
            self.respond(stream, 200, b"x" * 1000, length=10000, end=False)

            def cut():
                if path == "/reset-midbody":
                    self._quic.reset_stream(stream, H3_INTERNAL_ERROR)
                else:
                    self._quic.close(error_code=H3_EXCESSIVE_LOAD, reason_phrase="closing on purpose")
                self.transmit()
            # After the 1000 bytes have left.
            loop.call_later(0.02, cut)
        else:
            self.respond(stream, 404, b"not found\n")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--v2-port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    logging.basicConfig(filename=a.log, level=logging.INFO, format="%(asctime)s %(message)s")
    for port, versions in ((a.port, [QuicProtocolVersion.VERSION_1]), (a.v2_port, [QuicProtocolVersion.VERSION_2])):
        config = QuicConfiguration(alpn_protocols=H3_ALPN, is_client=False, idle_timeout=30)
        config.supported_versions = versions
        config.load_cert_chain(a.cert, a.key)
        await serve("127.0.0.1", port, configuration=config, create_protocol=Peer)
    log.info("listening on %d (v1) and %d (v2 only)", a.port, a.v2_port)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
