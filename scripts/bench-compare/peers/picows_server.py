"""Peer server on `picows` (Cython, asyncio): /ws/echo and the /ws/v1 fan-out stand-in.

Usage: picows_server.py --port PORT [--cert CERT --key KEY] [--ready-file FILE]
"""
import argparse
import asyncio
import ssl

from picows import WSListener, WSMsgType, ws_create_server

from peer_protocol import HELLO, FanoutHub

hub = FanoutHub()


def broadcast(members, payload):
    for transport in members:
        transport.send(WSMsgType.TEXT, payload)


class EchoListener(WSListener):
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview())


class FanoutListener(WSListener):
    def on_ws_connected(self, transport):
        transport.send(WSMsgType.TEXT, HELLO)

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            answer, members, notification = hub.handle(transport, frame.get_payload_as_bytes())
            transport.send(WSMsgType.TEXT, answer)
            if notification:
                broadcast(members, notification)

    def on_ws_disconnected(self, transport):
        hub.drop(transport)


def route(request):
    if request.path == b"/ws/echo":
        return EchoListener()
    if request.path == b"/ws/v1":
        return FanoutListener()
    return None


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
    server = await ws_create_server(route, "127.0.0.1", args.port, ssl=context, max_frame_size=1 << 24)
    if args.ready_file:
        with open(args.ready_file, "w") as ready:
            ready.write(f"127.0.0.1:{args.port}\n")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
