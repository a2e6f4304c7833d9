"""HTTP peers that misbehave on purpose, for the failure-as-outcome tests.

--silent PORT   accepts connections, reads the request, never answers
--midbody PORT  sends a head promising 100000 bytes, 1000 of them, then closes
--slow PORT     /delay: waits exactly 50 ms before the first byte, then a
                small response; /chunked: a chunked body in three pieces
"""
import argparse
import asyncio


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode()
    return line.split(" ")[1] if " " in line else "/"


async def silent(reader, writer):
    try:
        await read_request(reader)
        await reader.read()  # until the client gives up
    except Exception:
        pass
    writer.close()


async def midbody(reader, writer):
    try:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        await asyncio.sleep(0.05)
    except Exception:
        pass
    writer.close()


async def slow(reader, writer):
    try:
        while True:
            path = await read_request(reader)
            if path == "/chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for piece in (b"hello ", b"chunked ", b"world\n"):
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                    await asyncio.sleep(0.01)
                writer.write(b"0\r\n\r\n")
            else:
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ndelay\n")
            await writer.drain()
    except Exception:
        pass
    writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--silent", type=int, required=True)
    p.add_argument("--midbody", type=int, required=True)
    p.add_argument("--slow", type=int, required=True)
    a = p.parse_args()
    servers = [await asyncio.start_server(h, "127.0.0.1", port)
               for h, port in ((silent, a.silent), (midbody, a.midbody), (slow, a.slow))]
    await asyncio.gather(*(s.serve_forever() for s in servers))


asyncio.run(main())
