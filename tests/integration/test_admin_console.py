"""The admin console in a real browser (headless Chromium driven by Selenium): the operator's client
certificate from an NSS database, the admin token and a TOTP code typed in; a trader's session
appears, the operator revokes it, and the trader's socket closes with 4002."""
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest
import websockets
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from bulwark_client import Client, Ed25519Key, b64u
from conftest import Gateway, run_cli
from test_mtls import make_ca, make_client, write_pair

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER and shutil.which("pk12util")),
                                reason="needs chromium, chromium-driver and libnss3-tools (scripts/test.sh installs them)")


@pytest.fixture(scope="module")
def console(workdir):
    from cryptography.hazmat.primitives import serialization
    directory = os.path.join(workdir, "console-pki")
    os.makedirs(directory, exist_ok=True)
    ca_key, ca = make_ca("Console operators CA")
    operator_key, operator_cert = make_client(ca_key, ca, "console-operator")
    ca_path = os.path.join(directory, "ca.pem")
    open(ca_path, "wb").write(ca.public_bytes(serialization.Encoding.PEM))
    server = Gateway(os.path.join(workdir, "console"), extra_env={"BULWARK_ADMIN_CLIENT_CA_FILE": ca_path},
                     extra_args=("--admin-listen", "127.0.0.1:0"))
    server.admin_url = open(server.ready_file).read().split()[1]
    server.admin_token = run_cli(server.data, "admin", "token")["token"]
    import pyotp
    server.operator_totp = pyotp.TOTP(run_cli(server.data, "admin", "totp-enroll")["secret"])

    # A browser profile that trusts the development CA and holds the operator's certificate, and a
    # managed policy that presents it to the admin listener without a dialog.
    home = tempfile.mkdtemp(prefix="bulwark-browser-")
    nssdb = os.path.join(home, ".pki", "nssdb")
    os.makedirs(nssdb)
    subprocess.run(["certutil", "-N", "-d", "sql:" + nssdb, "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", "sql:" + nssdb, "-n", "bulwark-dev-ca", "-t", "C,,", "-i", server.ca], check=True)
    p12 = os.path.join(home, "operator.p12")
    open(p12, "wb").write(pkcs12.serialize_key_and_certificates(b"operator", operator_key, operator_cert, None, NoEncryption()))
    subprocess.run(["pk12util", "-i", p12, "-d", "sql:" + nssdb, "-W", ""], check=True, capture_output=True)
    port = server.admin_url.split("//")[1].split("/")[0].rsplit(":", 1)[1]
    policy_dir = "/etc/chromium/policies/managed"
    os.makedirs(policy_dir, exist_ok=True)
    policy = os.path.join(policy_dir, f"bulwark-test-{os.getpid()}.json")
    json.dump({"AutoSelectCertificateForUrls": [json.dumps({"pattern": f"https://127.0.0.1:{port}", "filter": {}})]}, open(policy, "w"))
    server.browser_home = home
    yield server
    os.remove(policy)
    shutil.rmtree(home, ignore_errors=True)
    server.stop()


def browser(home):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1600",
                 f"--user-data-dir={os.path.join(home, 'profile')}"):
        options.add_argument(flag)
    previous = os.environ.get("HOME")
    os.environ["HOME"] = home   # Chromium on Linux reads client certificates from $HOME/.pki/nssdb
    try:
        return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    finally:
        os.environ["HOME"] = previous or ""


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError("the page did not get there")


def test_operator_sees_a_session_in_the_console_and_revokes_it(console):
    from selenium.webdriver.common.by import By
    account_id = run_cli(console.data, "accounts", "create", "--name", "console-" + secrets.token_hex(3))["account_id"]
    key = Ed25519Key()
    key_id = run_cli(console.data, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                     b64u(key.public_raw()), "--scopes", "read")["key_id"]

    async def scenario():
        trader = await Client.connect(console.url, console.ca)
        session = await trader.login(key_id, key)
        driver = await asyncio.to_thread(browser, console.browser_home)
        try:
            def operate():
                driver.get(console.admin_url.replace("/admin/v1", "/admin/console"))
                assert driver.title == "Bulwark admin console"
                driver.find_element(By.ID, "token").send_keys(console.admin_token)
                driver.find_element(By.ID, "connect").click()
                wait_for(lambda: driver.find_element(By.ID, "status").text == "connected")
                row = wait_for(lambda: next((r for r in driver.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
                                             if session["session_id"] in r.text), None))
                assert account_id in row.text and "low" in row.text
                screenshot = os.environ.get("CONSOLE_SCREENSHOT_PATH")
                if screenshot:
                    driver.save_screenshot(screenshot)
                # A destructive action: the operator types a TOTP code, confirms, and the session goes.
                driver.find_element(By.ID, "totp").send_keys(console.operator_totp.now())
                row.find_element(By.TAG_NAME, "button").click()
                driver.switch_to.alert.accept()
                wait_for(lambda: driver.find_element(By.ID, "status").text.startswith("revoked"))
                wait_for(lambda: session["session_id"] not in driver.find_element(By.ID, "sessions").text)
            await asyncio.to_thread(operate)
        finally:
            await asyncio.to_thread(driver.quit)
        notice = await trader.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "revoked"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await trader.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4002
    asyncio.run(scenario())
    # The revocation is in the audit trail, attributed to the operator's certificate.
    records = subprocess.run([os.environ.get("TEST_BULWARK_BIN", ""), "audit", "search", "--data", console.data, "--event", "admin.session.revoke"],
                             capture_output=True, text=True).stdout.splitlines()
    assert records and json.loads(records[0])["actor"].startswith("operator:")


def test_console_pages_are_locked_down(console):
    import ssl
    import urllib.request
    context = ssl.create_default_context(cafile=console.ca)
    with pytest.raises(Exception):   # no operator certificate: the TLS handshake is refused
        urllib.request.urlopen(console.admin_url.replace("/admin/v1", "/admin/console"), context=context, timeout=5)
