"""Small helpers shared by the commands: JSON on stdout, reasons on stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from zk_pipeline.jsonio import JsonInputError, parse_json


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"zkp: error: {message}\n")
    return code


def read_text_file(path: Path) -> str:
    """A UTF-8 text file (a leading BOM is dropped); ``ValueError`` names the file and the problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {path}: not UTF-8 text (byte {exc.start})") from None


def load_json_file(path: Path) -> Any:
    """JSON from a file; every unusable input is a ``ValueError`` naming the file and the problem."""
    text = read_text_file(path)
    try:
        return parse_json(text)
    except JsonInputError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
