"""The fact look-up's Starknet modules are imported at startup, in the background, not on the first request."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import sys
    from fastapi.testclient import TestClient
    from api.main import WARM_MODULES, create_app

    app = create_app("postgresql://nobody@127.0.0.1:1/none")
    assert not [m for m in ("starknet_py", *WARM_MODULES) if m in sys.modules], "imported before startup"
    with TestClient(app):
        app.state.warm_up.join(120)
        assert not app.state.warm_up.is_alive()
        missing = [m for m in ("starknet_py", *WARM_MODULES) if m not in sys.modules]
        assert not missing, missing
    print("warm")
""")


def test_startup_imports_the_fact_lookup_modules_in_the_background():
    """A fresh interpreter, so that no other test has imported starknet-py already."""
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0 and out.stdout.strip().endswith("warm"), out.stderr[-3000:]


def test_the_warm_modules_are_what_verify_fact_hash_imports():
    """If the route starts importing something else lazily, the warm-up list must follow."""
    import ast
    import inspect

    from api.main import WARM_MODULES
    from api.routes import verification

    lazy = {node.module for node in ast.walk(ast.parse(inspect.getsource(verification)))
            if isinstance(node, ast.ImportFrom) and node.col_offset > 0}
    assert lazy <= {"zk_pipeline.facts.hashing", *WARM_MODULES}, lazy
    import zk_pipeline.facts.integrity  # noqa: F401  (the warm module brings hashing with it)

    assert "zk_pipeline.facts.hashing" in sys.modules
