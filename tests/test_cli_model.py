"""``zkp model register FILE``: the same checks and store as the API's register, one error line otherwise."""

from __future__ import annotations

import json

from tests.api.test_admin import definition
from zk_pipeline.cli import main
from zk_pipeline.db.models import ModelVersionRecord
from zk_pipeline.db.session import session_scope


def test_register_a_file_then_its_duplicate_and_an_invalid_one(db_url, tmp_path, capsys):
    good = tmp_path / "model.json"
    good.write_text(json.dumps(definition(max_single_bps=5500)))
    assert main(["model", "register", str(good), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["version"] == 2 and made["origin"] == "registered" and made["params"]["max_single_bps"] == 5500
    with session_scope(db_url) as s:
        assert s.get(ModelVersionRecord, 2).model_hash == made["model_hash"]
    assert main(["model", "register", str(good)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zkp: error: these parameters are model version 2") and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(definition(risk_min=2.5)))
    assert main(["model", "register", str(bad)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "risk_min must be an integer" in out.err and out.err.count("\n") == 1
    (tmp_path / "broken.json").write_text("{")
    assert main(["model", "register", str(tmp_path / "broken.json")]) == 2
    assert capsys.readouterr().err.startswith(f"zkp: error: cannot read {tmp_path / 'broken.json'}")
    third = tmp_path / "third.json"
    third.write_text(json.dumps(definition(max_single_bps=5400)))
    assert main(["model", "register", str(third)]) == 0
    assert capsys.readouterr().out.startswith("model version 3 registered: model hash 0x")
