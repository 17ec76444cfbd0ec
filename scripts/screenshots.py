#!/usr/bin/env python3
"""Headless-browser check of the first screens a person sees after ``make run``.

Starts its own ``zkp run`` (own ports, own data directory, partitions pinned
as for a first run), waits until a few hours are materialized, then drives
Debian's ``chromium`` (``apt-get install chromium``) over the DevTools
protocol and saves screenshots of

- ``/docs`` and ``/redoc`` with every host but 127.0.0.1 unresolvable; every
  request the pages made is recorded and must have gone to 127.0.0.1;
- the Dagster asset catalog, the global lineage, and the ``allocation_decision``
  asset page with its metadata as a table and as plots (a button the page
  keeps no URL for, hence the protocol rather than ``--screenshot``).

Usage: ``.venv/bin/python scripts/screenshots.py [OUT_DIR]`` (default
/tmp/zkp-screenshots). Env: ``ZKP_DAGSTER_PORT`` / ``ZKP_API_PORT`` (3300 /
8300), ``CHROMIUM``. Exit 0: screenshots written and checks passed; 3: no
chromium; 1: a check failed (the ``zkp run`` log's tail is printed).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from zk_pipeline.assets.partition_start import pin_start  # noqa: E402

OFFLINE = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


class CheckFailed(Exception):
    pass


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (127.0.0.1 only)
        return r.read()


def _wait(what: str, ready, seconds: float, alive=lambda: True, every: float = 1.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = ready()
            if value:
                return value
        except OSError:
            pass
        if not alive():
            raise CheckFailed(f"zkp run exited before {what}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {seconds:.0f} s")
        time.sleep(every)


class Browser:
    """One headless chromium with a fresh profile, one tab, spoken to over the DevTools protocol."""

    def __init__(self, binary: str, profile: Path, width: int = 1400, height: int = 900):
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
             f"--host-resolver-rules={OFFLINE}", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        port = _wait("chromium's DevTools port", lambda: port_file.exists() and port_file.read_text().split()[0], 30)
        targets = json.loads(_get(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20)
        self.next_id = 0
        self.requests: list[str] = []
        self.call("Network.enable")
        self.call("Page.enable")

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise CheckFailed(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, ready_js: str, settle: float = 2.0, seconds: float = 60) -> None:
        self.requests.clear()
        self.call("Page.navigate", url=url)
        _wait(f"{url} to render", lambda: self.js(ready_js), seconds, every=0.5)
        time.sleep(settle)
        self.js("0")  # collect the events of the settle time

    def shot(self, path: Path, height: int | None = None) -> None:
        if height:
            self.call("Emulation.setDeviceMetricsOverride", width=1400, height=height, deviceScaleFactor=1, mobile=False)
            time.sleep(1.5)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"  {path}", flush=True)

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)


def text_has(*words: str) -> str:
    return " && ".join(f"document.body && document.body.innerText.includes({json.dumps(w)})" for w in words)


#: The one URL a docs page may ask for elsewhere: ReDoc's bundle hard-codes its footer logo. Offline the
#: request fails and the footer shows its text alone; nothing of the documentation depends on it.
BRANDING = {"https://cdn.redoc.ly/redoc/logo-mini.svg"}


def api_pages(browser: Browser, api: str, out: Path) -> None:
    for page, ready in (("docs", text_has("List decisions", "model-registry")),
                        ("redoc", text_has("List decisions", "API docs by Redocly"))):
        browser.open(f"{api}/{page}", ready)
        foreign = [u for u in browser.requests if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
        if set(foreign) - BRANDING:
            raise CheckFailed(f"/{page} asked other hosts: {foreign}")
        local = len(browser.requests) - len(foreign)
        print(f"/{page}: rendered with no network; {local} requests to 127.0.0.1"
              + (f", and {foreign} (unresolvable here; a logo)" if foreign else ""), flush=True)
        browser.shot(out / f"api-{page}.png")


def dagster_pages(browser: Browser, ui: str, out: Path) -> None:
    assets = ("protocol_metrics", "risk_features", "risk_scores", "allocation_proposal", "allocation_proof",
              "verified_fact", "allocation_decision")
    browser.open(f"{ui}/assets", text_has(*assets, "partitions"), settle=4)
    if browser.js(text_has("Join the Dagster community")):
        raise CheckFailed("the community dialog covers the UI")
    browser.shot(out / "dagster-catalog.png")
    browser.open(f"{ui}/asset-groups", text_has(*assets), settle=10)
    browser.shot(out / "dagster-lineage.png")
    browser.open(f"{ui}/assets/allocation_decision", text_has("jediswap_pct", "Plots"), settle=4)
    browser.shot(out / "dagster-decision.png")
    clicked = browser.js("(() => { const b = [...document.querySelectorAll('button')]"
                         ".find(b => b.innerText.trim() === 'Plots'); if (b) b.click(); return !!b; })()")
    if not clicked:
        raise CheckFailed("no Plots button on the allocation_decision page")
    time.sleep(4)
    browser.js("(() => { const h = [...document.querySelectorAll('div, span')].find("
               "e => e.innerText && e.innerText.trim() === 'Metadata'); if (h) h.scrollIntoView(); })()")
    browser.shot(out / "dagster-decision-plots.png", height=1800)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="/tmp/zkp-screenshots")
    parser.add_argument("--min-decisions", type=int, default=4, help="hours to wait for before the plots (4)")
    args = parser.parse_args()
    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        print("screenshots: error: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 3
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ui_port, api_port = os.environ.get("ZKP_DAGSTER_PORT", "3300"), os.environ.get("ZKP_API_PORT", "8300")
    ui, api = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}"
    data = Path(tempfile.mkdtemp(prefix="zkp-shots.", dir="/tmp"))  # short: PostgreSQL's socket lives in it
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "DAGSTER_GRAPHQL_URL")}
    env.update(ZKP_DATA_DIR=str(data), ZKP_PARTITIONS_START=pin_start(data / "partitions_start"))
    log_path = out / "zkp-run.log"
    print(f"screenshots: zkp run on {ui_port}/{api_port} (Python {sys.version.split()[0]}), "
          f"partitions from {env['ZKP_PARTITIONS_START']}", flush=True)
    with open(log_path, "wb") as log:
        run = subprocess.Popen([str(Path(sys.executable).parent / "zkp"), "run", "--dagster-port", ui_port,
                                "--api-port", api_port], env=env, stdout=log, stderr=subprocess.STDOUT)
    browser = None
    try:
        alive = lambda: run.poll() is None  # noqa: E731
        _wait("the API", lambda: _get(f"{api}/api/v1/health"), 600, alive, every=2)
        _wait("the Dagster UI", lambda: _get(f"{ui}/server_info"), 180, alive, every=2)
        total = lambda: json.loads(_get(f"{api}/api/v1/risk-engine/decisions?limit=1"))["total"]  # noqa: E731
        _wait(f"{args.min_decisions} hourly decisions", lambda: total() >= args.min_decisions, 900, alive, every=5)
        print(f"screenshots: {total()} hourly decisions recorded", flush=True)
        browser = Browser(binary, data / "chromium")
        api_pages(browser, api, out)
        dagster_pages(browser, ui, out)
        return 0
    except CheckFailed as exc:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        print("\n".join(tail) + f"\nscreenshots: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if browser is not None:
            browser.close()
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
            try:
                run.wait(90)
            except subprocess.TimeoutExpired:
                run.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
