"""Peer server on the `websockets` library (asyncio): /ws/echo and the /ws/v1 fan-out stand-in.

Usage: websockets_server.py --port PORT [--cert CERT --key KEY] [--ready-file FILE]
"""
import asyncio

from websockets.asyncio.server import broadcast, serve

from peer_protocol import HELLO, FanoutHub, announce_ready, peer_options, tls_context

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
    args = peer_options()
    async with serve(handler, "127.0.0.1", args.port, ssl=tls_context(args), max_size=1 << 24, compression=None, ping_interval=None, max_queue=None) as server:
        announce_ready(args)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
