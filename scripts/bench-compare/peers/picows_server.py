"""Peer server on `picows` (Cython, asyncio): /ws/echo and the /ws/v1 fan-out stand-in.

Usage: picows_server.py --port PORT [--cert CERT --key KEY] [--ready-file FILE]
"""
import asyncio

from picows import WSListener, WSMsgType, ws_create_server

from peer_protocol import HELLO, FanoutHub, announce_ready, peer_options, tls_context

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
    args = peer_options()
    server = await ws_create_server(route, "127.0.0.1", args.port, ssl=tls_context(args), max_frame_size=1 << 24)
    announce_ready(args)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
