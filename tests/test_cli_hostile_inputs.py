"""Hostile inputs to ``zkp``: a one-line reason on stderr and a non-zero exit, never a traceback or a hang."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from tests.test_cli import zkp
from zk_pipeline.features.reference_volatility import (
    _rational_volatility_annualized_bps,
    exact_volatility_annualized_bps,
)

ROOT = Path(__file__).resolve().parents[1]
STANDARD = ROOT / "examples" / "standard_statement.json"


def _clean_failure(res, code: int, *words: str) -> None:
    assert res.returncode == code, (res.returncode, res.stderr[-500:])
    assert "Traceback" not in res.stderr and res.stderr.startswith("zkp: error:"), res.stderr[-500:]
    assert len(res.stderr.splitlines()) == 1, res.stderr[-500:]
    for w in words:
        assert w in res.stderr, res.stderr


@pytest.mark.parametrize("content, words", [
    (b"\xff{}", ("not UTF-8",)),
    (("[" * 100000 + "]" * 100000).encode(), ("JSON",)),
    (('{"protocols": ' + "9" * 5000 + "}").encode(), ("JSON",)),
])
@pytest.mark.parametrize("command", ["allocate", "prove", "verify", "stone-facts"])
def test_unreadable_json_files_fail_cleanly(tmp_path, command, content, words):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    args = {"allocate": ["allocate", "--input", str(bad)],
            "prove": ["prove", "--input", str(bad), "--out", str(tmp_path / "p.bin")],
            "verify": ["verify", "--input", str(bad), "--proof", str(bad)],
            "stone-facts": ["stone-facts", str(bad)]}[command]
    _clean_failure(zkp(*args), 2, *words)


@pytest.mark.parametrize("doc, words", [
    ({"protocols": [1, 2]}, ("'protocols' must be an object",)),
    ({"protocols": {"jediswap": 1, "ekubo": 2}}, ("protocols.jediswap must be an object",)),
    ({"model": "v1", "protocols": {"jediswap": {}, "ekubo": {}}}, ("'model' must be an object",)),
    ({"model": {"version": [1]}, "protocols": {"jediswap": {}, "ekubo": {}}}, ("model.version must be an integer",)),
    ({"model": {"version": True}, "protocols": {"jediswap": {}, "ekubo": {}}}, ("model.version must be an integer",)),
    ({"extra": 1, "protocols": {"jediswap": {}, "ekubo": {}}}, ("unknown keys ['extra']",)),
])
def test_allocate_names_the_bad_field(tmp_path, doc, words):
    path = tmp_path / "derived.json"
    path.write_text(json.dumps(doc))
    _clean_failure(zkp("allocate", "--input", str(path)), 2, *words)


def test_features_reports_out_of_range_prices_as_bad_rows_and_reads_a_bom(tmp_path):
    rows = ["timestamp,price"] + [f"2021-01-01T{h:02d}:00:00Z,{100 + h}" for h in range(10)]
    rows += ["2021-01-02T00:00:00Z,1e1000000", "2021-01-02T01:00:00Z,1e-9"]
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode())
    res = zkp("features", "--prices", str(path))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["n_observations"] == 10
    reasons = {b["line"]: b["reason"] for b in out["bad_rows"]}
    assert "above the model's range" in reasons[12] and "below the model's resolution" in reasons[13]


def test_features_on_a_year_of_six_decimal_prices_takes_seconds_not_hours(tmp_path):
    rng = random.Random(5)
    lines = ["timestamp,price"] + [f"{1_600_000_000 + 3600 * i},{rng.randrange(10**6, 10**11) / 10**6:.6f}"
                                   for i in range(8760)]
    path = tmp_path / "year.csv"
    path.write_text("\n".join(lines))
    res = zkp("features", "--prices", str(path))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["n_observations"] == 8760


def test_the_fast_exact_volatility_agrees_with_rational_arithmetic():
    rng = random.Random(11)
    for n in (2, 3, 17, 200):
        for _ in range(10):
            prices = [Decimal(rng.randrange(1, 10**11)) / Decimal(10**rng.randrange(0, 9)) for _ in range(n)]
            assert exact_volatility_annualized_bps(prices) == _rational_volatility_annualized_bps(prices)
    # values on an integer boundary take the rational path and stay exact
    assert exact_volatility_annualized_bps([Decimal(5)] * 20) == 0


def test_migrate_against_an_unreachable_server_is_one_line_without_the_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secretpw@127.0.0.1:1/db")
    res = zkp("migrate")
    _clean_failure(res, 1, "cannot migrate", "Connection refused")
    assert "secretpw" not in res.stderr + res.stdout


def test_verify_says_when_a_proof_is_not_for_this_statement(tmp_path):
    st = json.loads(STANDARD.read_text())
    proof = tmp_path / "p.bin"
    assert zkp("prove", "--input", str(STANDARD), "--out", str(proof)).returncode == 0
    st["protocols"]["ekubo"]["prices"][5] += 1
    del st["outputs"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(st))
    with_outputs = tmp_path / "other_out.json"
    assert zkp("prove", "--input", str(other), "--out", str(tmp_path / "q.bin"),
               "--statement-out", str(with_outputs)).returncode == 0
    res = zkp("verify", "--input", str(with_outputs), "--proof", str(proof))
    assert res.returncode == 1 and "not made for this statement" in res.stderr
