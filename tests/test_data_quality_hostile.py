"""Hostile replay files through the real metrics asset: bad rows are named, never stored, never used."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterEventType, materialize
from sqlalchemy import text

from tests.helpers import pipeline_resources
from zk_pipeline.assets.market import build_protocol_metrics, source_retry_policy
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.sources.replay import ReplaySource

PART = "2026-11-20-10:00"
H = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
FEATURES = [a for a in all_assets if a.key.to_user_string() == "risk_features"]
EK, JD = "ekubo", "jediswap"


def base() -> pd.DataFrame:
    f = ReplaySource().frame()
    out = f[["protocol", "pool", "price", "tvl_usd", "volume_usd", "fees_usd"]].copy()
    out.insert(0, "timestamp", f["hour"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out


def dataset_ts(k: int) -> str:
    """The file timestamp served for wall-clock hour H - k h (inside the partition's window)."""
    return (ReplaySource().dataset_hour(H) - pd.Timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall(k: int) -> str:
    return (pd.Timestamp(H) - pd.Timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(f: pd.DataFrame, k: int, proto: str = EK) -> pd.Series:
    return (f["timestamp"] == dataset_ts(k)) & (f["protocol"] == proto)


def setv(f: pd.DataFrame, k: int, col: str, v, proto: str = EK) -> pd.DataFrame:
    f[col] = f[col].astype(object)
    f.loc[at(f, k, proto), col] = v
    return f


def line_of(f: pd.DataFrame, mask: pd.Series) -> str:
    return f"line {f.index.get_indexer(f.index[mask])[0] + 2}"


def run(db_url, instance, path, retries: int = 0, retry_backoff_s: float = 0.01, **source):
    metrics = build_protocol_metrics(source_retry_policy(retries, retry_backoff_s))
    return materialize([metrics, *FEATURES], partition_key=PART, instance=instance, raise_on_error=False,
                       resources=pipeline_resources(db_url, replay_path=str(path), **source))


def stored(db_url) -> pd.DataFrame:
    with session_scope(db_url) as s:
        rows = s.execute(text("select protocol, pool, hour, price_e8, tvl_e6, volume_e6, fees_e6 "
                              "from zkp.protocol_metrics")).all()
    return pd.DataFrame(rows, columns=["protocol", "pool", "hour", "price_e8", "tvl_e6", "volume_e6", "fees_e6"])


def blocked(result) -> list[dict]:
    """The check failed with ERROR and stopped the features; returns every issue row (JSON metadata)."""
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    quality = checks["metrics_quality"]
    assert not quality.passed and quality.severity == AssetCheckSeverity.ERROR
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"protocol_metrics"}
    for e in result.all_events:  # the only failure is the blocking check, not a crash
        if e.is_step_failure:
            assert e.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError", e.step_failure_data.error.message
    return quality.metadata["rows"].value


def rejected(rows: list[dict], rule: str) -> list[dict]:
    return [r for r in rows if r["rule"] == rule and r["action"] == "rejected"]


def write(tmp_path, f: pd.DataFrame, name: str = "hostile.csv"):
    p = tmp_path / name
    f.to_parquet(p, index=False) if name.endswith(".parquet") else f.to_csv(p, index=False)
    return p


def assert_sane(db: pd.DataFrame) -> None:
    assert set(db["protocol"]) <= {EK, JD}
    assert (db["price_e8"] >= 1).all() and (db["tvl_e6"] >= 1).all()
    assert (db[["price_e8", "tvl_e6", "volume_e6", "fees_e6"]] < 2**58).all().all()


# 1. Values that become 0 after fixed-point scaling.
@pytest.mark.parametrize("col,value", [("price", 1e-9), ("tvl_usd", 1e-7)])
def test_values_below_one_fixed_point_unit_are_rejected(db_url, dagster_instance, tmp_path, col, value):
    f = setv(base(), 5, col, value)
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, f), max_fill_hours=0))
    bad = rejected(rows, "below_fixed_point_unit")
    assert [(r["protocol"], r["hour"], r["row"]) for r in bad] == [(EK, wall(5), line_of(f, at(f, 5)))]
    assert stored(db_url).empty  # a blocked run writes nothing


# 2 and 10. Per-pool values that would overflow a per-protocol sum; every rejected row is in the JSON.
def test_values_that_could_overflow_sums_are_rejected_and_all_named(db_url, dagster_instance, tmp_path):
    f = base()
    f.loc[f.protocol == JD, "tvl_usd"] = 5e12
    second = f[f.protocol == JD].copy()
    second["pool"] = "jediswap:second"
    result = run(db_url, dagster_instance, write(tmp_path, pd.concat([f, second])))
    rows = blocked(result)
    bad = rejected(rows, "out_of_range")
    assert len(bad) == 2 * 720 and {r["pool"] for r in bad} == {"jediswap:WBTC/USDC:0.3%", "jediswap:second"}
    quality = result.get_asset_check_evaluations()[0]
    assert len(quality.metadata["bad_rows"].value.splitlines()) <= 53  # the markdown stays short
    assert stored(db_url).empty  # a blocked run writes nothing


# 3. Unreadable timestamps and key cells: rejected and named, not dropped silently.
@pytest.mark.parametrize("col,value,rule", [
    ("timestamp", "not-a-date", "unreadable_timestamp"),
    ("pool", None, "bad_pool_id"),
    ("protocol", None, "unknown_protocol"),
])
def test_unreadable_rows_are_rejected_with_file_line(db_url, dagster_instance, tmp_path, col, value, rule):
    f = base()
    mask = at(f, 5)
    line = line_of(f, mask)
    f = setv(f, 5, col, value)
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, f), max_fill_hours=3))
    bad = rejected(rows, rule)
    assert [r["row"] for r in bad] == [line]
    if col == "timestamp":
        assert "not-a-date" in bad[0]["detail"]
    assert stored(db_url).empty  # a blocked run writes nothing


def test_unreadable_timestamps_at_the_end_refuse_the_file(db_url, dagster_instance, tmp_path):
    f = base()
    f.loc[f.index[-2:], "timestamp"] = "garbage"
    result = run(db_url, dagster_instance, write(tmp_path, f), retries=3)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "time span" in failure.message and "garbage" in failure.message
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert stored(db_url).empty


# 4. Times not on the hour.
def test_time_not_on_the_hour_is_rejected(db_url, dagster_instance, tmp_path):
    f = base()
    mask = at(f, 5)
    f.loc[mask, "timestamp"] = dataset_ts(5).replace(":00:00Z", ":30:00Z")
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, f)))
    bad = rejected(rows, "not_on_the_hour")
    assert [(r["hour"], r["row"]) for r in bad] == [(wall(5), line_of(f, mask))] and ":30:00Z" in bad[0]["detail"]
    assert_sane(stored(db_url))


# 5 and 6. Missing protocols (absent, wrong case) and unknown protocols.
def test_missing_protocol_is_named_with_hour_range(db_url, dagster_instance, tmp_path):
    f = base()
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, f[f.protocol != EK])))
    missing = [r for r in rows if r["rule"] == "protocol_missing_hours"]
    assert [(r["protocol"], r["action"], r["hour"]) for r in missing] == [(EK, "missing", f"{wall(719)}..{wall(0)}")]
    assert stored(db_url).empty  # a blocked run writes nothing


def test_wrong_case_and_unknown_protocols_are_rejected(db_url, dagster_instance, tmp_path):
    f = base()
    extra = f[f.protocol == JD].copy()
    extra["protocol"] = "sushiswap"
    f.loc[f.protocol == EK, "protocol"] = "Ekubo"
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, pd.concat([f, extra]))))
    bad = rejected(rows, "unknown_protocol")
    assert {r["protocol"] for r in bad} == {"Ekubo", "sushiswap"} and len(bad) == 2 * 720
    assert [r["protocol"] for r in rows if r["rule"] == "protocol_missing_hours"] == [EK]
    assert stored(db_url).empty  # a blocked run writes nothing


# 7. Inputs that used to raise: datetime columns, booleans in money columns, over-long ids.
@pytest.mark.parametrize("tz", ["UTC", None])
def test_parquet_datetime_column_is_read(db_url, dagster_instance, tmp_path, tz):
    f = base()
    t = pd.to_datetime(f["timestamp"], utc=True)
    f["timestamp"] = t if tz else t.dt.tz_localize(None)
    result = run(db_url, dagster_instance, write(tmp_path, f, "dt.parquet"))
    assert result.success and result.get_asset_check_evaluations()[0].passed
    assert len(stored(db_url)) == 1440


def test_bool_money_cell_is_rejected(db_url, dagster_instance, tmp_path):
    f = base()
    f["fees_usd"] = f["fees_usd"] > 0  # a boolean Parquet column
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, f, "b.parquet")))
    bad = rejected(rows, "non_finite")
    assert len(bad) == 1440 and all("fees_usd=" in r["detail"] for r in bad)
    assert f"parquet row {f.index.get_indexer(f.index[at(f, 5)])[0]}" in {r["row"] for r in bad}
    assert stored(db_url).empty


@pytest.mark.parametrize("col,value,rule", [("pool", "x" * 200, "bad_pool_id"), ("protocol", "p" * 40, "unknown_protocol")])
def test_over_long_ids_are_rejected(db_url, dagster_instance, tmp_path, col, value, rule):
    f = base()
    extra = f[f.protocol == EK].copy()
    extra[col] = value
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, pd.concat([f, extra]))))
    assert len(rejected(rows, rule)) == 720
    assert stored(db_url).empty  # a blocked run writes nothing


# 8. One empty timestamp cell in a unix-seconds file is one bad row.
def test_one_empty_unix_timestamp_is_one_rejected_row(db_url, dagster_instance, tmp_path):
    f = base()
    secs = (pd.to_datetime(f["timestamp"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    f["timestamp"] = secs.astype(object)
    f.iloc[3, 0] = ""
    rows = blocked(run(db_url, dagster_instance, write(tmp_path, f)))
    bad = rejected(rows, "unreadable_timestamp")
    assert [(r["hour"], r["row"]) for r in bad] == [("?", "line 5")]
    assert stored(db_url).empty  # a blocked run writes nothing


# 9. Format errors fail at once, with the reason; they are not retried.
@pytest.mark.parametrize("content,reason", [
    (None, "lacks columns"), (b"", "cannot read"), (b"timestamp,protocol,pool,price,tvl_usd,volume_usd,fees_usd\n", "no rows"),
])
def test_format_errors_fail_without_retries(db_url, dagster_instance, tmp_path, content, reason):
    p = tmp_path / "bad.csv"
    if content is None:
        base().drop(columns="fees_usd").to_csv(p, index=False)
    else:
        p.write_bytes(content)
    result = run(db_url, dagster_instance, p, retries=3, retry_backoff_s=5.0)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert failure.cls_name == "Failure" and reason in failure.message
    assert stored(db_url).empty


# 5. Millisecond unix timestamps (read as seconds they would fetch nothing): refused with the reason.
def test_millisecond_unix_timestamps_are_refused(db_url, dagster_instance, tmp_path):
    f = base()
    f["timestamp"] = (pd.to_datetime(f["timestamp"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(
        milliseconds=1)
    result = run(db_url, dagster_instance, write(tmp_path, f), retries=3)
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert failure.cls_name == "Failure" and "milliseconds" in failure.message and "line 2" in failure.message
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert stored(db_url).empty
