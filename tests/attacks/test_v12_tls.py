"""ASVS 5.0 V12 (secure communication): the listener speaks TLS 1.3 only, never plaintext."""
import socket
import ssl

import pytest

from attack import host_port, server_closed_tcp, tls_context


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2])
def test_v12_1_1_tls_below_1_3_is_refused(target, version):
    context = tls_context(target)
    context.maximum_version = version
    with socket.create_connection(host_port(target), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="localhost")


def test_v12_2_1_plaintext_http_on_the_tls_port_gets_no_upgrade(target):
    with socket.create_connection(host_port(target), timeout=10) as sock:
        sock.sendall(b"GET /ws/v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        sock.settimeout(10)
        try:
            data = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert b"101" not in data and not data.startswith(b"HTTP/1.1 1")


def test_v12_3_2_a_client_without_our_ca_cannot_complete_the_handshake(target):
    with socket.create_connection(host_port(target), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")


def test_v12_garbage_instead_of_a_client_hello_is_dropped(target):
    sock = socket.create_connection(host_port(target), timeout=10)
    sock.sendall(b"\x16\x03\x01\xff\xff" + b"\x00" * 200)
    assert server_closed_tcp(sock)
    sock.close()


def test_v12_1_1_tls_1_3_is_negotiated(target):
    with socket.create_connection(host_port(target), timeout=10) as raw:
        with tls_context(target).wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1.3"
