"""Where a proof-mode run's steps go: steps per function of ``allocation.cairo``, from its trace.

Every Cairo step costs the same in the trace Stone proves (16 rows per step),
so cutting the program means cutting the steps of the functions that take
most of them. ``cairo-run --trace_file`` writes one ``(ap, fp, pc)`` triple
of little-endian u64s per step, the program loaded at address 1 in proof
mode; each pc is charged to the function (or the entry/exit label of the
proof-mode stub) whose code it lies in. Steps spent in the final
``jmp rel 0`` after ``main`` returned are the padding up to ``n_steps``.
"""

from __future__ import annotations

import bisect
import json
import struct
from collections import Counter
from pathlib import Path

PROGRAM_BASE = 1  # proof mode loads the program segment at address 1


def code_sections(compiled_path: Path) -> list[tuple[int, str]]:
    """``(pc, name)`` of every function and of the proof-mode stub's labels, sorted by pc."""
    ids = json.loads(Path(compiled_path).read_text())["identifiers"]
    sections = [(int(v["pc"]), name.rsplit(".", 1)[-1] if name.startswith("__main__.") else name)
                for name, v in ids.items() if v.get("type") in ("function", "label") and "pc" in v
                and (v["type"] == "function" or name in ("__main__.__start__", "__main__.__end__"))]
    return sorted(set(sections))


def steps_by_section(compiled_path: Path, trace_path: Path) -> dict[str, int]:
    """Executed steps charged to each function (self steps, not including callees), most first.

    The ``__end__`` entry is the proof-mode padding (the ``jmp rel 0`` loop).
    """
    sections = code_sections(compiled_path)
    starts = [pc for pc, _ in sections]
    counts: Counter[str] = Counter()
    data = Path(trace_path).read_bytes()
    for _ap, _fp, pc in struct.iter_unpack("<QQQ", data):
        i = bisect.bisect_right(starts, pc - PROGRAM_BASE) - 1
        counts[sections[i][1] if i >= 0 else "?"] += 1
    return dict(counts.most_common())
