"""JSON that anyone may have written (API bodies, CLI files, Stone proofs): one short, safe reason.

``json.loads`` fails in more ways than ``JSONDecodeError``: 5000-digit integers
(``ValueError``), 10000-deep nesting (``RecursionError``), bytes that are not UTF-8
(``UnicodeDecodeError``). Callers wrap :class:`JsonInputError` in their own error type
and add where the text came from; the reason never echoes more than 120 characters of it.
"""

from __future__ import annotations

import json
from typing import Any


class JsonInputError(ValueError):
    pass


def parse_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise JsonInputError(f"not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None
