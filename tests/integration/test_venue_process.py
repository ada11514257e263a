"""The venue as its own process: `bulwark venue` serving two gateways (`serve --venue grpc://…`).

Both gateways share one data folder (one store: accounts, keys, deposits), as gateways of one venue
must (docs/operations.md, "Running the venue separately"); the venue keeps its own journal.
"""
import asyncio
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from bulwark_client import Client, channel_is
from conftest import BINARY, Gateway, provision_trader
from test_mtls import make_ca, make_client, name, write_pair


def run(coro):
    return asyncio.run(coro)


class VenueProcess:
    """`bulwark venue --demo` on 127.0.0.1 (port 0 the first time; a restart reuses the port)."""

    def __init__(self, data, port=0, extra_args=()):
        self.data = data
        self.ready_file = os.path.abspath(os.path.join(data, "..", f"venue-ready-{time.monotonic_ns()}"))
        self.log_path = os.path.abspath(os.path.join(data, "..", f"venue-{time.monotonic_ns()}.log"))
        self.log = open(self.log_path, "w")
        env = dict(os.environ)
        env["BULWARK_DEMO_LIQUIDITY_INTERVAL_MS"] = "0"  # no simulator moving books under the tests
        self.process = subprocess.Popen(
            [BINARY, "venue", "--listen", f"127.0.0.1:{port}", "--data", data, "--demo", "--ready-file", self.ready_file, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.ready_file):
            if self.process.poll() is not None:
                raise RuntimeError(f"venue exited with {self.process.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("venue did not start within 60 s: " + self.output())
            time.sleep(0.05)
        self.port = int(open(self.ready_file).read().split()[0].rsplit(":", 1)[1])
        self.url = f"grpc://127.0.0.1:{self.port}"

    def output(self):
        self.log.flush()
        return open(self.log_path).read()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.log.close()
        os.path.exists(self.ready_file) and os.remove(self.ready_file)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        os.path.exists(self.ready_file) and os.remove(self.ready_file)
        return self.process.returncode


@pytest.fixture(scope="module")
def split(workdir):
    """A venue process and two gateways that use it (the outage test swaps in a restarted venue)."""
    state = {"venue": VenueProcess(os.path.join(workdir, "split-venue")), "data": os.path.join(workdir, "split-gateways")}
    gateways = []
    try:
        for name in ("a", "b"):
            state[name] = Gateway(state["data"], extra_args=("--venue", state["venue"].url),
                                  extra_env={"BULWARK_VENUE_TIMEOUT_MS": "2000", "BULWARK_METRICS_PUBLIC": "true"})
            gateways.append(state[name])
        yield state
    finally:
        for gateway in gateways:
            gateway.stop()
        state["venue"].stop()


def venue_link_up(gateway):
    """`bulwark_venue_link_up` from the gateway's GET /metrics."""
    url = gateway.url.replace("wss://", "https://").replace("/ws/v1", "/metrics")
    with urllib.request.urlopen(url, context=ssl.create_default_context(cafile=gateway.ca), timeout=10) as response:
        text = response.read().decode()
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("bulwark_venue_link_up "))


async def logged_in(server, key_id, key):
    client = await Client.connect(server.url, server.ca)
    await client.login(key_id, key)
    return client


async def place(client, **params):
    return await client.call("private/order.place", params)


def test_an_order_on_one_gateway_fills_against_a_resting_order_from_the_other(split):
    _, a_key_id, a_key = provision_trader(split["data"], "split-a", "USD=1000000,BTC=10")
    _, b_key_id, b_key = provision_trader(split["data"], "split-b", "USD=1000000,BTC=10")

    async def scenario():
        buyer = await logged_in(split["a"], a_key_id, a_key)
        seller = await logged_in(split["b"], b_key_id, b_key)
        for client in (buyer, seller):
            assert "result" in await client.call("subscribe", {"channels": ["orders", "fills"]})
        # Inside the demo house spread (bids up to 59940, asks from 60060): only the two traders meet.
        resting = await place(seller, instrument="BTC-USD", side="sell", type="limit", qty="0.01", price="60010",
                              tif="gtc", client_order_id="split-sell-1")
        assert resting["result"]["status"] == "open", resting
        taken = await place(buyer, instrument="BTC-USD", side="buy", type="limit", qty="0.01", price="60010",
                            tif="ioc", client_order_id="split-buy-1")
        assert taken["result"]["status"] == "filled", taken
        assert taken["result"]["avg_price"] == "60010"
        buyer_fill = (await buyer.next_notification(channel_is("fills")))["params"]["data"]
        seller_fill = (await seller.next_notification(channel_is("fills")))["params"]["data"]
        assert buyer_fill["trade_id"] == seller_fill["trade_id"]
        assert (buyer_fill["side"], buyer_fill["liquidity"], buyer_fill["order_id"]) == ("buy", "taker", taken["result"]["order_id"])
        assert (seller_fill["side"], seller_fill["liquidity"], seller_fill["order_id"]) == ("sell", "maker", resting["result"]["order_id"])
        # The maker learns that its order filled on its own gateway's `orders` channel.
        while True:
            update = (await seller.next_notification(channel_is("orders")))["params"]["data"]
            if update["order_id"] == resting["result"]["order_id"] and update["status"] == "filled":
                break
        # Both gateways answer from the same venue state.
        status = await seller.call("private/order.status", {"client_order_id": "split-sell-1"})
        assert status["result"]["status"] == "filled"
        balances = {b["asset"]: b for b in (await buyer.call("private/account.balances"))["result"]["balances"]}
        assert Decimal(balances["BTC"]["total"]) == Decimal("10.01")
        for client in (buyer, seller):
            await client.close()
    run(scenario())


def test_market_data_from_the_venue_reaches_subscribers_on_both_gateways(split):
    _, key_id, key = provision_trader(split["data"], "split-md", "USD=1000000,BTC=10")

    async def scenario():
        watchers = [await Client.connect(split[name].url, split[name].ca) for name in ("a", "b")]
        snapshots = []
        for watcher in watchers:
            assert "result" in await watcher.call("subscribe", {"channels": ["book.ETH-USD", "trades.ETH-USD"]})
            snapshots.append((await watcher.next_notification(channel_is("book.ETH-USD")))["params"])
        # The same venue book, with the same sequence, on both gateways.
        assert snapshots[0]["data"] == snapshots[1]["data"] and snapshots[0]["seq"] == snapshots[1]["seq"]
        assert snapshots[0]["data"]["type"] == "snapshot" and snapshots[0]["data"]["asks"]
        trader = await logged_in(split["a"], key_id, key)
        reply = await place(trader, instrument="ETH-USD", side="buy", type="market", qty="0.01", tif="ioc",
                            client_order_id="split-md-1")
        assert reply["result"]["status"] == "filled", reply
        for watcher, snapshot in zip(watchers, snapshots):
            trade = (await watcher.next_notification(channel_is("trades.ETH-USD")))["params"]["data"]
            assert trade["taker_side"] == "buy" and trade["qty"] == "0.01"
            delta = (await watcher.next_notification(channel_is("book.ETH-USD")))["params"]
            assert delta["data"]["type"] == "delta" and delta["prev_seq"] == snapshot["seq"]
        for client in (*watchers, trader):
            await client.close()
    run(scenario())


def test_an_order_the_venue_does_not_answer_in_time_is_unknown_never_lost(split):
    _, key_id, key = provision_trader(split["data"], "split-frozen", "USD=1000000,BTC=10")
    venue = split["venue"]
    params = {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.001", "price": "55500", "tif": "gtc",
              "client_order_id": "frozen-1"}

    async def scenario():
        trader = await logged_in(split["a"], key_id, key)
        venue.process.send_signal(signal.SIGSTOP)  # the link stays up, the venue does not answer
        try:
            reply = await trader.call("private/order.place", params, timeout=15)
        finally:
            venue.process.send_signal(signal.SIGCONT)
        assert reply["result"]["status"] == "unknown", reply
        assert "order_id" not in reply["result"] and reply["result"]["client_order_id"] == "frozen-1"
        # The documented way to learn the outcome: the same client_order_id again. Either the first
        # attempt reached the venue (duplicate) or this one places it; never two orders, never none.
        deadline = time.monotonic() + 20
        while True:
            again = await trader.call("private/order.place", params)
            if "result" in again:
                break
            assert again["error"]["data"]["reason"] == "venue_unavailable", again
            assert time.monotonic() < deadline, again
            await asyncio.sleep(0.2)
        assert again["result"]["status"] == "open" and again["result"]["duplicate"] in (True, False), again
        open_orders = (await trader.call("private/orders.open"))["result"]["orders"]
        assert [o["client_order_id"] for o in open_orders].count("frozen-1") == 1
        await trader.close()
    run(scenario())


def test_a_venue_outage_refuses_orders_keeps_sessions_and_recovers_without_restarting_gateways(split):
    _, key_id, key = provision_trader(split["data"], "split-outage", "USD=1000000,BTC=10")
    venue = split["venue"]

    async def order(client, coid):
        return await place(client, instrument="BTC-USD", side="buy", type="limit", qty="0.001", price="55000",
                           tif="gtc", client_order_id=coid)

    async def scenario():
        trader = await logged_in(split["a"], key_id, key)
        watcher = await Client.connect(split["b"].url, split["b"].ca)
        assert "result" in await watcher.call("subscribe", {"channels": ["book.BTC-USD"]})
        await watcher.next_notification(channel_is("book.BTC-USD"))
        assert (await order(trader, "outage-before"))["result"]["status"] == "open"

        venue.kill()
        # The link notices at once (the stream breaks); give it a few seconds at most.
        deadline = time.monotonic() + 10
        while True:
            refused = await order(trader, f"outage-{time.monotonic_ns()}")
            if "error" in refused:
                break
            assert time.monotonic() < deadline, f"orders still accepted with the venue down: {refused}"
            await asyncio.sleep(0.2)
        assert refused["error"]["message"] == "internal_error", refused
        assert refused["error"]["data"]["reason"] == "venue_unavailable", refused
        assert venue_link_up(split["a"]) == 0
        status = await trader.call("private/order.status", {"client_order_id": "outage-before"})
        assert status["error"]["data"]["reason"] == "venue_unavailable", status
        # The session and both connections are still there.
        assert "result" in await trader.call("private/session.status")
        assert "result" in await watcher.call("public/ping")

        split["venue"] = restarted = VenueProcess(venue.data, port=venue.port)
        deadline = time.monotonic() + 20
        while True:
            reply = await order(trader, f"outage-after-{time.monotonic_ns()}")
            if "result" in reply:
                break
            assert reply["error"]["data"]["reason"] == "venue_unavailable", reply
            assert time.monotonic() < deadline, "trading did not resume after the venue came back: " + restarted.output()
            await asyncio.sleep(0.2)
        assert reply["result"]["status"] == "open"
        assert venue_link_up(split["a"]) == 1
        # The journal brought back the order placed before the outage.
        status = await trader.call("private/order.status", {"client_order_id": "outage-before"})
        assert status["result"]["status"] == "open", status
        # The book subscriber on the other gateway hears of the new order (a fresh snapshot first
        # if the gateway had to start over, then deltas).
        while True:
            update = (await watcher.next_notification(channel_is("book.BTC-USD"), timeout=10))["params"]
            bids = {price for price, _ in update["data"].get("bids", [])}
            if "55000" in bids:
                break
        for client in (trader, watcher):
            await client.close()
    run(scenario())


def make_venue_certificate(ca_key, ca_cert):
    """The venue's server certificate, for 127.0.0.1 (gateways verify it fully)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name("bulwark venue")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def test_mutual_tls_lets_gateways_with_a_certificate_in_and_keeps_others_out(workdir):
    pki = os.path.join(workdir, "venue-pki")
    os.makedirs(pki, exist_ok=True)
    ca_key, ca_cert = make_ca("bulwark venue link CA")
    ca_path, _ = write_pair(pki, "ca", ca_key, ca_cert)
    venue_cert, venue_key = write_pair(pki, "venue", *make_venue_certificate(ca_key, ca_cert))
    gateway_cert, gateway_key = write_pair(pki, "gateway", *make_client(ca_key, ca_cert, "gateway-1"))
    venue = VenueProcess(os.path.join(workdir, "mtls-venue"),
                         extra_args=("--tls-cert", venue_cert, "--tls-key", venue_key, "--client-ca", ca_path))
    data = os.path.join(workdir, "mtls-gateways")
    url = f"grpcs://127.0.0.1:{venue.port}"
    gateways = []
    try:
        trusted = Gateway(data, extra_args=("--venue", url), extra_env={
            "BULWARK_VENUE_TLS_CA_FILE": ca_path, "BULWARK_VENUE_TLS_CERT_FILE": gateway_cert,
            "BULWARK_VENUE_TLS_KEY_FILE": gateway_key})
        gateways.append(trusted)
        stranger = Gateway(data, extra_args=("--venue", url), extra_env={"BULWARK_VENUE_TLS_CA_FILE": ca_path})
        gateways.append(stranger)
        _, key_id, key = provision_trader(data, "mtls", "USD=1000000")

        async def scenario():
            clients = [await logged_in(gateway, key_id, key) for gateway in (trusted, stranger)]
            deadline = time.monotonic() + 20
            while True:
                placed = await place(clients[0], instrument="BTC-USD", side="buy", type="limit", qty="0.001",
                                     price="55000", tif="gtc", client_order_id=f"mtls-{time.monotonic_ns()}")
                if "result" in placed:
                    break
                assert time.monotonic() < deadline, placed
                await asyncio.sleep(0.2)
            assert placed["result"]["status"] == "open"
            # Without a client certificate the link never comes up.
            for attempt in range(3):
                refused = await place(clients[1], instrument="BTC-USD", side="buy", type="limit", qty="0.001",
                                      price="55000", tif="gtc", client_order_id=f"stranger-{attempt}")
                assert refused["error"]["data"]["reason"] == "venue_unavailable", refused
                await asyncio.sleep(0.5)
            for client in clients:
                await client.close()
        run(scenario())
    finally:
        for gateway in gateways:
            gateway.stop()
        venue.stop()
