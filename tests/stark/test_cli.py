"""``zkp prove`` / ``zkp verify`` through an argparse harness like the real dispatcher."""

import argparse
import json

import pytest

from zk_pipeline.cli import prove_cmd
from zk_pipeline.risk.statement import Statement
from zk_pipeline.circuits.allocation import verify_statement

from .helpers import STANDARD, random_statement


def zkp(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zkp")
    sub = parser.add_subparsers(dest="command", required=True)
    prove_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture()
def statement_file(tmp_path):
    stmt = random_statement(21, window=16, util=4)
    path = tmp_path / "statement.json"
    path.write_text(json.dumps(stmt.to_dict()))
    return path


def test_prove_and_verify_json(statement_file, tmp_path, capsys):
    proof = tmp_path / "proof.bin"
    assert zkp(["prove", "--input", str(statement_file), "--out", str(proof), "--json",
                "--queries", "12", "--grinding-bits", "4"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"proof_bytes", "prove_ms", "trace_rows", "trace_columns", "security_bits"} <= set(info)
    assert info["field_backend"] == "native"  # the extension is built by the install
    # 12 queries at blowup 4: 24 query bits, below the 80-bit floor, so the 4 grinding bits do not count
    assert info["proof_bytes"] == proof.stat().st_size and info["security_bits"] == 2 * 12
    assert info["distinct_query_cosets"] == 12 and info["params"]["num_queries"] == 12
    # below the default 96 bits: refused with a reason
    assert zkp(["verify", "--input", str(statement_file), "--proof", str(proof), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and "security" in out["reason"]
    assert zkp(["verify", "--input", str(statement_file), "--proof", str(proof), "--json",
                "--min-security-bits", "24", "--allow-unregistered-model"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is True and {"security_bits", "proof_bytes", "verify_ms"} <= set(out)
    assert out["security_bits"] == 24 and out["distinct_query_cosets"] == 12
    assert out["model_registered"] is False  # a 16-hour window is not model version 1


def test_prove_fills_outputs_and_rejects_wrong_claims(tmp_path, capsys):
    stmt = random_statement(22, window=16, util=4)
    d = stmt.to_dict()
    d.pop("outputs")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(d))
    proof = tmp_path / "p.bin"
    assert zkp(["prove", "--input", str(path), "--out", str(proof), "--queries", "8", "--grinding-bits", "0"]) == 0
    assert "proof written" in capsys.readouterr().out
    # verify needs claimed outputs; --statement-out writes them
    assert zkp(["verify", "--input", str(path), "--proof", str(proof)]) == 2
    full = tmp_path / "full.json"
    assert zkp(["prove", "--input", str(path), "--out", str(proof), "--queries", "8", "--grinding-bits", "0",
                "--statement-out", str(full)]) == 0
    assert zkp(["verify", "--input", str(full), "--proof", str(proof), "--min-security-bits", "0",
                "--allow-unregistered-model"]) == 0
    d["outputs"] = stmt.outputs
    d["outputs"]["allocation"]["jediswap_bps"] += 1
    path.write_text(json.dumps(d))
    assert zkp(["prove", "--input", str(path), "--out", str(proof)]) == 1
    assert "differs" in capsys.readouterr().err


def test_bad_inputs_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert zkp(["prove", "--input", str(missing), "--out", str(tmp_path / "p")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert zkp(["verify", "--input", str(bad), "--proof", str(tmp_path / "p")]) == 2
    assert zkp(["prove", "--input", str(STANDARD), "--out", str(tmp_path / "p"), "--blowup", "3"]) == 2
    assert "error" in capsys.readouterr().err


def test_verify_garbage_proof_exits_1(statement_file, tmp_path, capsys):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00" * 100)
    assert zkp(["verify", "--input", str(statement_file), "--proof", str(garbage), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["reason"].startswith("malformed proof")


def test_standard_statement_end_to_end(tmp_path, capsys):
    """The shipped standard statement (2 x 720 hours) proves at >= 96 bits and verifies."""
    proof = tmp_path / "standard.bin"
    assert zkp(["prove", "--input", str(STANDARD), "--out", str(proof), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["trace_rows"] == 1024 and info["security_bits"] >= 96
    assert zkp(["verify", "--input", str(STANDARD), "--proof", str(proof), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["security_bits"] == 96 and out["distinct_query_cosets"] == 40
    assert out["model_registered"] is True and out["model_hash"] == info["model_hash"]
    assert out["params"] == {"blowup": 4, "num_queries": 40, "grinding_bits": 16, "fri_folding_factor": 4,
                             "fri_remainder_max_degree": 31}
    stmt = Statement.from_json(STANDARD.read_text())
    assert verify_statement(stmt, proof.read_bytes()).valid


def test_standard_statement_file_is_current():
    """examples/standard_statement.json is exactly what the build script produces."""
    import importlib.util

    from .helpers import ROOT

    spec = importlib.util.spec_from_file_location("bss", ROOT / "scripts" / "build_standard_statement.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = mod.build()
    shipped = Statement.from_json(STANDARD.read_text())
    assert built.to_dict() == shipped.to_dict()
    assert built.hour.isoformat() == "2021-06-10T00:00:00+00:00"
