"""Public real-world data the tests and the dataset builder read (provenance in README.md here).

The Stone proofs are stored gzipped; ``stone_proofs()`` unpacks them once per
process into a temporary directory, because the code under test (and
``zkp stone-facts``) reads plain JSON files.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PRICES = HERE / "prices"
STONE_PROOFS_GZ = HERE / "stone_proofs"


@functools.lru_cache(maxsize=1)
def stone_proofs() -> Path:
    """A directory holding the real Stone proofs as plain ``*.json`` files."""
    out = Path(tempfile.mkdtemp(prefix="zkp-stone-proofs-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    for packed in sorted(STONE_PROOFS_GZ.glob("*.json.gz")):
        with gzip.open(packed, "rb") as src, open(out / packed.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out
