"""``zkp run`` when the first materialization fails: a short paragraph, and the UI and API still come up.

A new user's first run meets their own data or their own network first. The
cause (the bad row, the DNS failure) must reach the terminal in a few lines,
without retries that cannot help, and the UI that shows the details must start.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.test_run_command import _free_port, _ok, _wait

ZKP = Path(sys.executable).parent / "zkp"
REPLAY = ROOT / "zk_pipeline" / "data" / "replay_pools.csv"


def _env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "DAGSTER_PG_URL", "DAGSTER_GRAPHQL_URL")}
    env.update(DATABASE_URL=db_url, ZKP_DATA_DIR=str(tmp_path / "data"), ZKP_PROVERS="builtin", **extra)
    return env


def _broken_replay(tmp_path: Path) -> tuple[Path, int]:
    """The shipped dataset with one unreadable timestamp; returns the file and the broken line's number."""
    lines = REPLAY.read_text().splitlines(keepends=True)
    line_no = 5
    stamp, rest = lines[line_no - 1].split(",", 1)
    lines[line_no - 1] = "not-a-time," + rest
    path = tmp_path / "broken.csv"
    path.write_text("".join(lines))
    return path, line_no


def _no_serve(env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run([str(ZKP), "run", "--no-serve"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    return proc, time.monotonic() - started


def _assert_one_paragraph(stderr: str) -> str:
    error = stderr[stderr.index("zkp: error:"):]
    assert "Traceback" not in stderr and "Stack Trace" not in stderr, stderr
    assert len(error.strip().splitlines()) <= 4, error
    return error


@pytest.mark.slow
def test_a_bad_replay_row_is_named_and_the_ui_and_api_still_come_up(tmp_path, scratch_db_url):
    replay, line_no = _broken_replay(tmp_path)
    ui, api = _free_port(), _free_port()
    env = _env(tmp_path, scratch_db_url, ZKP_REPLAY_PATH=str(replay), ZKP_DAGSTER_PORT=str(ui),
               ZKP_API_PORT=str(api))
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ZKP), "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait(lambda: _ok(f"http://127.0.0.1:{api}/api/v1/health"), 180, "API", proc, log)
        _wait(lambda: _ok(f"http://127.0.0.1:{ui}/server_info"), 120, "Dagster UI", proc, log)
        text = log.read_text()
        assert "check metrics_quality on protocol_metrics failed" in text, text
        assert f"line {line_no}: unreadable_timestamp" in text, text
        assert f"http://127.0.0.1:{ui}/runs/" in text, text
        assert "Traceback" not in text and "Stack Trace" not in text, text
        # The API answers; there is no decision for the failed hour.
        got = httpx.get(f"http://127.0.0.1:{api}/api/v1/risk-engine/decisions", timeout=10)
        assert got.status_code == 200
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_no_serve_names_the_bad_row_in_one_paragraph(tmp_path, scratch_db_url):
    replay, line_no = _broken_replay(tmp_path)
    proc, _ = _no_serve(_env(tmp_path, scratch_db_url, ZKP_REPLAY_PATH=str(replay)))
    assert proc.returncode == 1, proc.stderr
    error = _assert_one_paragraph(proc.stderr)
    assert f"line {line_no}: unreadable_timestamp" in error and "not-a-time" in error


@pytest.mark.parametrize("url, cause", [
    ("http://no-such-host.invalid", "DNS lookup failed"),
    ("http://127.0.0.1:{closed}", "connection refused"),
])
def test_an_unreachable_source_fails_at_once_with_its_cause(tmp_path, scratch_db_url, url, cause):
    url = url.format(closed=_free_port())
    proc, took = _no_serve(_env(tmp_path, scratch_db_url, ZKP_METRICS_SOURCE="ekubo_api", ZKP_EKUBO_API_URL=url))
    assert proc.returncode == 1, proc.stderr
    error = _assert_one_paragraph(proc.stderr)
    assert "step protocol_metrics failed" in error and cause in error and "not retried" in error, error
    # Retried, it would wait 5 + 10 + 20 s between Dagster's attempts alone.
    assert took < 35, f"{took:.1f}s: the failure was retried"


class _NotFound(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802 - the stdlib's name
        type(self).hits += 1
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_4xx_is_asked_once(tmp_path, scratch_db_url):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc, _ = _no_serve(_env(tmp_path, scratch_db_url, ZKP_METRICS_SOURCE="ekubo_api",
                                 ZKP_EKUBO_API_URL=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
    assert proc.returncode == 1
    assert "HTTP 404, not retried" in _assert_one_paragraph(proc.stderr)
    assert _NotFound.hits == 1
