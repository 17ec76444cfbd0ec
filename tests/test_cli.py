"""The ``zkp`` command line, run as a user runs it (the installed entry point)."""

from __future__ import annotations

import argparse

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

from zk_pipeline.sources.replay import ReplaySource

ZKP = str(Path(sys.executable).with_name("zkp"))


def zkp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ZKP, *args], capture_output=True, text=True, timeout=120)


def test_features_on_shuffled_csv_with_bad_rows(tmp_path):
    prices = ReplaySource().frame().query("protocol == 'jediswap'").sort_values("hour")["price"].iloc[:200]
    rows = [(1_600_000_000 + 3600 * i, repr(float(p))) for i, p in enumerate(prices)]
    expected = np.asarray([float(p) for _, p in rows])
    ref = math.floor(np.std(expected[1:] / expected[:-1] - 1) * math.sqrt(8760) * 10_000)
    lines = [f"{ts},{p}" for ts, p in rows]
    random.Random(7).shuffle(lines)
    lines += ["notatime,100", "1600000000,-5", "1600003600,NaN", "1600007200,abc", f"{rows[3][0]},{rows[3][1]}"]
    csv = tmp_path / "prices.csv"
    csv.write_text("timestamp,price\n" + "\n".join(lines) + "\n")
    out = zkp("features", "--prices", str(csv))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["n_observations"] == 200 and doc["n_returns"] == 199
    assert doc["volatility_annualized_bps"] == ref
    assert abs(doc["model_volatility_annualized_bps"] - ref) <= 1
    reasons = " ".join(b["reason"] for b in doc["bad_rows"])
    assert len(doc["bad_rows"]) == 5 and "unparseable timestamp" in reasons and "not positive" in reasons
    assert "not finite" in reasons and "not a number" in reasons and "duplicate" in reasons
    assert doc["gaps"] == []


def test_features_iso_timestamps_and_errors(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("timestamp,price\n2021-01-01T01:00:00Z,101\n2021-01-01T00:00:00Z,100\n2021-01-01T03:00:00Z,99\n")
    doc = json.loads(zkp("features", "--prices", str(csv)).stdout)
    assert doc["n_observations"] == 3 and doc["first_timestamp"].startswith("2021-01-01T00:00")
    assert len(doc["gaps"]) == 1 and doc["gaps"][0]["hours"] == 2
    (tmp_path / "nohdr.csv").write_text("a,b\n1,2\n")
    bad = zkp("features", "--prices", str(tmp_path / "nohdr.csv"))
    assert bad.returncode != 0 and "timestamp" in bad.stderr and bad.stdout == ""


def test_allocate_derived_inputs_reproduces_seed_example(tmp_path):
    doc = {"protocols": {
        "jediswap": {"utilization_bps": 500, "volatility_bps": 2000, "liquidity_tier": 2, "audit_score": 85,
                     "age_days": 365, "apy_bps": 850},
        "ekubo": {"utilization_bps": 500, "volatility_bps": 2000, "liquidity_tier": 2, "audit_score": 85,
                  "age_days": 365, "apy_bps": 1210}}}
    f = tmp_path / "in.json"
    f.write_text(json.dumps(doc))
    out = zkp("allocate", "--input", str(f))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["protocols"]["jediswap"]["risk"] == 33 and res["protocols"]["ekubo"]["risk"] == 33
    assert res["allocation"]["jediswap_bps"] == 4126 and res["allocation"]["ekubo_bps"] == 5874


def test_allocate_statement_matches_model_and_rejects_bad_input(tmp_path):
    from datetime import datetime, timezone

    from zk_pipeline.risk.series import build_statement
    from zk_pipeline.risk.registry import get_version
    from zk_pipeline.sources.base import Window
    from zk_pipeline.sources.quality import validate

    hour = datetime(2026, 11, 26, 22, tzinfo=timezone.utc)
    w = Window(hour, 720)
    st = build_statement(validate(ReplaySource().fetch(w), w).clean, hour, get_version())
    f = tmp_path / "st.json"
    f.write_text(json.dumps(st.to_dict()))
    res = json.loads(zkp("allocate", "--input", str(f)).stdout)
    want = st.evaluate().summary()
    assert res["allocation"]["jediswap_bps"] == want["allocation"]["jediswap_bps"]
    assert res["protocols"]["ekubo"]["risk"] == want["protocols"]["ekubo"]["risk"]

    doc = st.to_dict()
    doc["model"]["model_hash"] = "0x1234"
    f.write_text(json.dumps(doc))
    bad = zkp("allocate", "--input", str(f))
    assert bad.returncode != 0 and "model_hash does not match" in bad.stderr
    doc = st.to_dict()
    doc["protocols"]["jediswap"]["prices"] = doc["protocols"]["jediswap"]["prices"][:10]
    f.write_text(json.dumps(doc))
    bad = zkp("allocate", "--input", str(f))
    assert bad.returncode != 0 and "10 prices, model needs 720" in bad.stderr


def test_every_command_help_is_plain_text(capsys):
    from zk_pipeline.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        text = command.format_help()
        assert "``" not in text and ":class:" not in text, (name, text)
