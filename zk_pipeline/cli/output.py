"""Small helpers shared by the commands: JSON on stdout, reasons on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"zkp: error: {message}\n")
    return code
