"""delayproxy.py - a TCP proxy on 127.0.0.1 that adds a fixed latency to
every HTTP request: the first bytes of each request (the first client
chunk on a connection, and the first client chunk after the server has
answered) are held for --delay-ms before being forwarded.  Keep-alive
connections therefore pay the delay once per request, like a far-away
camera or album would make them.  Standard library only.

  python3 delayproxy.py --upstream 127.0.0.1:8080 --delay-ms 20 --port-file F
"""
import argparse
import asyncio
import os


async def pump(reader, writer, state, delay, client_side):
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            if client_side:
                if state["new_request"]:
                    state["new_request"] = False
                    await asyncio.sleep(delay)
            else:
                state["new_request"] = True
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--delay-ms", type=float, default=20)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=3600)
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    delay = a.delay_ms / 1000.0

    async def handle(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        state = {"new_request": True}
        await asyncio.gather(pump(creader, uwriter, state, delay, True),
                             pump(ureader, cwriter, state, delay, False))

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.sockets[0].getsockname()[1]))
    os.rename(tmp, a.port_file)
    loop = asyncio.get_running_loop()
    loop.call_later(a.lifetime, lambda: os._exit(0))
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
