"""An HTTP/2 peer that misbehaves on purpose (cleartext, prior knowledge).

    h2misbehave.py --port PORT [--log FILE]

Any number of connections, any number of concurrent streams on each:
  /small    200, "hello world\\n" (content-length set)
  /rst      RST_STREAM INTERNAL_ERROR (2) instead of a response
  /goaway   GOAWAY ENHANCE_YOUR_CALM (11), last stream id = the one before
            this stream (so this stream is refused), then closes the
            connection 50 ms later
  /silent   never answers; the connection stays open
  /slow     waits exactly 50 ms, then 200 "slow\\n"
  /midbody  headers promising 10000 bytes, 1000 of them, then closes the
            connection
  other     404

Needs the h2 library (Debian python3-h2, 4.x) and nothing else.
"""
import argparse
import asyncio
import logging

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.errors import ErrorCodes

log = logging.getLogger("h2misbehave")


class Conn:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.closing = False  # GOAWAY sent or closing: no more frames
        self.window = asyncio.Event()  # set when a WINDOW_UPDATE arrives
        self.tasks = set()
        self.peer = writer.get_extra_info("peername")

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def close(self):
        self.closing = True
        if not self.writer.is_closing():
            self.writer.close()

    async def run(self):
        log.info("%s connected", self.peer)
        self.h2.initiate_connection()
        self.flush()
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                if self.closing:
                    continue  # after GOAWAY: read and drop until the close
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    log.info("%s protocol error: %s", self.peer, e)
                    self.flush()
                    break
                for ev in events:
                    self.event(ev)
                self.flush()
        except (ConnectionError, OSError):
            pass
        finally:
            for t in self.tasks:
                t.cancel()
            self.close()
            log.info("%s closed", self.peer)

    def event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            path = dict(ev.headers).get(":path", "/").split("?", 1)[0]
            log.info("%s stream %d %s", self.peer, ev.stream_id, path)
            t = asyncio.get_running_loop().create_task(self.answer(ev.stream_id, path))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)
        elif isinstance(ev, h2.events.DataReceived):
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.WindowUpdated):
            self.window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closing = True

    async def respond(self, sid, status, body, length=None, end=True):
        self.h2.send_headers(sid, [(":status", str(status)),
                                   ("content-length", str(len(body) if length is None else length)),
                                   ("content-type", "text/plain")])
        while body:  # within the flow-control windows
            n = min(len(body), self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if n <= 0:
                self.flush()
                self.window.clear()
                await self.window.wait()
                if self.closing:
                    return
                continue
            self.h2.send_data(sid, body[:n])
            body = body[n:]
        if end:
            self.h2.end_stream(sid)
        self.flush()

    async def answer(self, sid, path):
        try:
            if path == "/small":
                await self.respond(sid, 200, b"hello world\n")
            elif path == "/rst":
                self.h2.reset_stream(sid, error_code=ErrorCodes.INTERNAL_ERROR)
                self.flush()
            elif path == "/goaway":
                self.h2.close_connection(error_code=ErrorCodes.ENHANCE_YOUR_CALM,
                                         last_stream_id=max(sid - 2, 0))
                self.flush()
                self.closing = True
                await asyncio.sleep(0.05)
                self.close()
            elif path == "/silent":
                pass  # the stream stays open, the connection too
            elif path == "/slow":
                await asyncio.sleep(0.05)
                await self.respond(sid, 200, b"slow\n")
            elif path == "/midbody":
                await self.respond(sid, 200, b"x" * 1000, length=10000, end=False)
                await self.writer.drain()
                await asyncio.sleep(0.05)
                self.close()
            else:
                await self.respond(sid, 404, b"not found\n")
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as e:
            log.info("%s stream %d %s: %s", self.peer, sid, path, e)  # reset by the client, or GOAWAY


async def serve(reader, writer):
    await Conn(reader, writer).run()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", help="log file (default stderr)")
    a = p.parse_args()
    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format="%(asctime)s %(message)s")
    server = await asyncio.start_server(serve, "127.0.0.1", a.port)
    log.info("listening on 127.0.0.1:%d", a.port)
    await server.serve_forever()


asyncio.run(main())
