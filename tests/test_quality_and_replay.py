"""Data-quality rules and the replay source's wall-clock mapping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from zk_pipeline.sources.base import SourceError, Window
from zk_pipeline.sources import quality
from zk_pipeline.sources.replay import ReplaySource

END = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def validate(raw, window, **kw):
    """The frames here hold one ekubo pool only; the every-protocol rule is tested separately."""
    return quality.validate(raw, window, required_protocols=("ekubo",), **kw)


def frame(hours: int = 10, **overrides) -> pd.DataFrame:
    rows = []
    for i in range(hours):
        h = END - timedelta(hours=hours - 1 - i)
        rows.append({"hour": h, "protocol": "ekubo", "pool": "p1", "price": 100.0 + i, "tvl_usd": 1000.0,
                     "volume_usd": 10.0, "fees_usd": 0.1})
    return pd.DataFrame(rows)


def test_clean_frame_has_no_issues_and_fixed_point_columns():
    r = validate(frame(), Window(END, 10))
    assert r.issues == [] and len(r.clean) == 10
    assert r.clean["price_e8"].iloc[0] == 100 * 10**8 and r.clean["tvl_e6"].iloc[0] == 1000 * 10**6


@pytest.mark.parametrize("col,value,rule", [
    ("price", np.nan, "non_finite"), ("price", "abc", "non_finite"), ("price", 0.0, "non_positive_price"),
    ("price", -3.0, "non_positive_price"), ("tvl_usd", 0.0, "non_positive_tvl"),
    ("volume_usd", -1.0, "negative_amount"), ("fees_usd", np.inf, "non_finite"),
    ("tvl_usd", 1e14, "out_of_range"),
])
def test_bad_values_are_rejected_and_named(col, value, rule):
    df = frame().astype({col: object})
    df.loc[4, col] = value
    r = validate(df, Window(END, 10), max_fill_hours=0)
    bad_hour = (END - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rejected = [i for i in r.issues if i.action == "rejected"]
    assert [(i.hour, i.rule) for i in rejected] == [(bad_hour, rule)]
    assert [i.action for i in r.issues if i.rule == "missing_hour"] == ["missing"]
    assert r.blocking and len(r.clean) == 9


def test_missing_hour_filled_by_carry_forward():
    df = frame().drop(index=[4, 5])
    r = validate(df, Window(END, 10), max_fill_hours=3)
    assert {i.action for i in r.issues} == {"filled"} and not r.blocking
    filled = r.clean[r.clean["repaired"]]
    assert len(filled) == 2
    assert (filled["price_e8"] == 103 * 10**8).all() and (filled["volume_e6"] == 0).all()


def test_long_gap_and_leading_gap_stay_missing():
    r = validate(frame().drop(index=[3, 4, 5, 6]), Window(END, 10), max_fill_hours=3)
    assert [i.action for i in r.issues] == ["missing"] * 4
    r = validate(frame().drop(index=[0]), Window(END, 10), max_fill_hours=3)
    assert [i.action for i in r.issues] == ["missing"]


def test_duplicates_identical_kept_once_conflicting_rejected():
    df = frame()
    same = pd.concat([df, df.iloc[[2]]], ignore_index=True)
    r = validate(same, Window(END, 10))
    assert [i.action for i in r.issues] == ["deduplicated"] and len(r.clean) == 10
    other = df.iloc[[2]].copy()
    other["price"] = 999.0
    r = validate(pd.concat([df, other], ignore_index=True), Window(END, 10), max_fill_hours=0)
    actions = sorted(i.action for i in r.issues)
    assert actions == ["missing", "rejected"] and len(r.clean) == 9


def test_replay_ping_pong_mapping_is_continuous_and_periodic():
    src = ReplaySource()
    df = src.frame()
    first, last = df["hour"].min(), df["hour"].max()
    n = int((last - first) / pd.Timedelta(hours=1)) + 1
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert src.dataset_hour(epoch) == first
    assert src.dataset_hour(epoch + timedelta(hours=n - 1)) == last
    assert src.dataset_hour(epoch + timedelta(hours=n)) == last - pd.Timedelta(hours=1)  # played backwards
    assert src.dataset_hour(epoch + timedelta(hours=2 * n - 2)) == first  # period 2N-2
    # Consecutive wall-clock hours always map to dataset hours at most one apart.
    for h in range(n - 3, n + 3):
        a, b = src.dataset_hour(epoch + timedelta(hours=h)), src.dataset_hour(epoch + timedelta(hours=h + 1))
        assert abs((b - a) / pd.Timedelta(hours=1)) <= 1


def test_replay_window_has_every_hour_for_both_pools():
    w = Window(datetime(2026, 11, 26, 22, tzinfo=timezone.utc), 720)
    out = ReplaySource().fetch(w)
    assert len(out) == 1440 and set(out["protocol"]) == {"jediswap", "ekubo"}
    assert out["hour"].min() == pd.Timestamp(w.start) and out["hour"].max() == pd.Timestamp(w.end)


def test_user_dataset_csv_with_unix_seconds_and_parquet(tmp_path):
    df = ReplaySource().frame().copy()
    df["timestamp"] = ((df["hour"] - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()).astype(int)
    df = df.drop(columns="hour").sample(frac=1.0, random_state=1)  # any row order
    csv = tmp_path / "mine.csv"
    df.to_csv(csv, index=False)
    pq = tmp_path / "mine.parquet"
    df.to_parquet(pq)
    w = Window(datetime(2026, 11, 26, 22, tzinfo=timezone.utc), 48)
    ref = ReplaySource().fetch(w).sort_values(["protocol", "hour"], ignore_index=True)
    for path in (csv, pq):
        got = ReplaySource(path).fetch(w).sort_values(["protocol", "hour"], ignore_index=True)
        pd.testing.assert_frame_equal(got[["hour", "protocol", "price"]], ref[["hour", "protocol", "price"]])


def test_replay_rejects_missing_file_and_columns(tmp_path):
    with pytest.raises(SourceError):
        ReplaySource(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,price\n2021-01-01T00:00:00Z,1\n")
    with pytest.raises(SourceError, match="lacks columns"):
        ReplaySource(bad).frame()


def test_protocol_sum_that_would_overflow_63_bits_is_rejected():
    pools = []
    for k in range(33):  # each TVL fits the per-row bound (< 2**58), their sum does not fit 2**63
        f = frame(hours=2)
        f["pool"], f["tvl_usd"] = f"p{k}", 2.8e11
        pools.append(f)
    r = validate(pd.concat(pools, ignore_index=True), Window(END, 2), max_fill_hours=0)
    assert {i.rule for i in r.issues} >= {"protocol_sum_out_of_range"} and r.clean.empty
    assert len([i for i in r.issues if i.rule == "protocol_sum_out_of_range"]) == 66


def test_every_protocol_must_cover_every_hour():
    r = quality.validate(frame(), Window(END, 10))  # jediswap absent
    missing = [i for i in r.issues if i.rule == "protocol_missing_hours"]
    assert [(i.protocol, i.hour, i.action) for i in missing] == [
        ("jediswap", "2026-05-01T03:00:00Z..2026-05-01T12:00:00Z", "missing")]
    assert r.blocking
