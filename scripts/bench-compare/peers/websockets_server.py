"""Peer server on the `websockets` library (asyncio): /ws/echo and the /ws/v1 fan-out stand-in.

Usage: websockets_server.py --port PORT [--cert CERT --key KEY] [--ready-file FILE]
"""
import argparse
import asyncio
import ssl

from websockets.asyncio.server import broadcast, serve

from peer_protocol import HELLO, FanoutHub

hub = FanoutHub()


async def handler(connection):
    path = connection.request.path
    if path == "/ws/echo":
        async for message in connection:
            await connection.send(message)
        return
    await connection.send(HELLO.decode())
    try:
        async for message in connection:
            answer, members, notification = hub.handle(connection, message)
            await connection.send(answer.decode())
            if notification:
                broadcast(members, notification.decode())
    finally:
        hub.drop(connection)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(args.cert, args.key)
    async with serve(handler, "127.0.0.1", args.port, ssl=context, max_size=1 << 24, compression=None, ping_interval=None, max_queue=None) as server:
        if args.ready_file:
            with open(args.ready_file, "w") as ready:
                ready.write(f"127.0.0.1:{args.port}\n")
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
