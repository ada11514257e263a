"""A raw RFC 6455 client over a plain TCP socket, for the conformance harness (autobahn_cases.py).

It sends exactly the frames a case asks for, however wrong, optionally "in chops" (the serialized
bytes written in small pieces, as the Autobahn catalogue does to exercise partial reads), and reads
the server's frames without interpreting them.
"""
import base64
import os
import socket
import struct
import time


class Closed(Exception):
    """The server closed the TCP connection."""


def mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


def frame_bytes(opcode, payload=b"", fin=True, rsv=0, masked=True):
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    bit = 0x80 if masked else 0
    if length < 126:
        header = struct.pack("!BB", first, bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, bit | 127, length)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + mask(payload, key)


class Wire:
    def __init__(self, host, port, path="/ws/echo", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = bytes(self.buffer[:end])
        del self.buffer[:end]
        self.status = int(head.split(b" ", 2)[1])

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed()
        self.buffer += chunk

    def _take(self, n):
        while len(self.buffer) < n:
            self._fill()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def send_raw(self, data, chop=None, delay=0.0):
        if not chop:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.sock.sendall(data[i:i + chop])
            if delay:
                time.sleep(delay)

    def send(self, opcode, payload=b"", fin=True, rsv=0, chop=None, delay=0.0):
        self.send_raw(frame_bytes(opcode, payload, fin, rsv), chop, delay)

    def recv(self):
        """The next frame: (fin, rsv, opcode, payload). Raises Closed at EOF."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        assert not second & 0x80, "server frames must not be masked"
        return bool(first & 0x80), (first >> 4) & 0x7, first & 0x0F, self._take(length)

    def wait_closed(self, timeout=10):
        """True when the server closes TCP within the timeout (data still arriving is discarded)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
