"""A deliberately low-level WebSocket client: hand-built handshakes and frames over a TLS socket,
so tests can send what well-behaved libraries refuse to (unmasked frames, RSV bits, bad UTF-8)."""
import base64
import os
import socket
import ssl
import struct


class RawConnection:
    def __init__(self, url, ca_file, extra_headers=(), version="13", path=None, timeout=10, preamble=b"", rcvbuf=None):
        """`preamble`: bytes sent in clear before TLS (a PROXY protocol header); `rcvbuf`: a small
        receive buffer, set before connecting, for clients that must look slow to the server."""
        host_port, _, url_path = url[len("wss://"):].partition("/")
        host, port = host_port.rsplit(":", 1)
        context = ssl.create_default_context(cafile=ca_file)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect((host, int(port)))
        if preamble:
            raw.sendall(preamble)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path or '/' + url_path} HTTP/1.1", f"Host: {host_port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}",
                 *extra_headers, "", ""]
        self.sock.sendall("\r\n".join(lines).encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.response_head = head.decode(errors="replace")

    def _read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, (0x80 if mask else 0) | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
        else:
            header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            header += key
        self.sock.sendall(header + payload)

    def recv_frame(self):
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        return first & 0x0F, self._read_exact(length)

    def send_json(self, message):
        import json
        self.send_frame(0x1, json.dumps(message).encode())

    def recv_json(self):
        """The next text message, skipping pings (answered) and pongs."""
        import json
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x9:
                self.send_frame(0xA, payload)
            elif opcode == 0x1:
                return json.loads(payload)
            elif opcode == 0x8:
                raise ConnectionError(f"closed: {payload[:2].hex()}")

    def recv_until_close(self, limit=50):
        """Reads frames until a close frame; returns its code."""
        for _ in range(limit):
            opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        raise AssertionError("no close frame")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
