"""The generic AIR (algebraic intermediate representation) interface.

An AIR describes a computation as a table (the *trace*) of ``n`` rows (``n`` a
power of two) and polynomial constraints between cells. Cells are read through
a :class:`Frame` as ``f.main(col, offset)``, ``f.aux(col, offset)`` and
``f.pub(col, offset)``, where ``offset`` is a row offset (``0`` = this row,
``1`` = next row, cyclically).

Three kinds of columns:

* **main** columns: the witness, committed first;
* **aux** columns: built by the prover *after* the main commitment, from
  random challenges (LogUp running sums and their helpers);
* **public** columns: values known to the verifier (e.g. the price series,
  selectors, the range-check table). They are never committed: the prover
  interpolates them, the verifier evaluates them at the out-of-domain point by
  barycentric interpolation (``O(n)``).

Two kinds of constraints:

* **transition** constraints must vanish on *every* row (divisor ``x^n - 1``);
  public selector columns switch them on and off, so e.g. "next = cur + r only
  on rows 0..m-1" is ``sel * (next - cur - r)``;
* **row** constraints must vanish on one given row (divisor ``x - w^row``). They
  may read cells at several offsets from that row, which is how a fixed block
  of rows (the model's "tail") is wired without copy columns.

A constraint is plain arithmetic (``+ - *`` and integers) on frame values and
challenges. The same function therefore runs on a point (verifier), on NumPy
object vectors over the evaluation domain (prover), on a recording frame that
learns which cells are read (the out-of-domain frame), and on :class:`Degree`
symbols that compute the constraint degree. Nothing has to be declared twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from zk_pipeline.stark.field import P

MAIN, AUX, PUB = "main", "aux", "pub"

Cell = tuple[str, int, int]  # (segment, column, offset)


class Frame:
    """Read access to cells around the current row; subclasses decide what a cell *is*."""

    def main(self, col: int, offset: int = 0):
        return self.cell(MAIN, col, offset)

    def aux(self, col: int, offset: int = 0):
        return self.cell(AUX, col, offset)

    def pub(self, col: int, offset: int = 0):
        return self.cell(PUB, col, offset)

    def cell(self, segment: str, col: int, offset: int):  # pragma: no cover - abstract
        raise NotImplementedError


class DictFrame(Frame):
    def __init__(self, values: dict[Cell, object]):
        self.values = values

    def cell(self, segment: str, col: int, offset: int):
        return self.values[(segment, col, offset)]


class RecordingFrame(Frame):
    """Returns a stand-in value for every cell and remembers which cells were read."""

    def __init__(self, value_factory: Callable[[Cell], object] = lambda cell: 1):
        self.cells: set[Cell] = set()
        self.factory = value_factory

    def cell(self, segment: str, col: int, offset: int):
        self.cells.add((segment, col, offset))
        return self.factory((segment, col, offset))


class Degree:
    """A symbol that tracks polynomial degree through ``+ - *`` (columns have degree 1)."""

    __slots__ = ("d",)

    def __init__(self, d: int):
        self.d = d

    @staticmethod
    def _deg(x) -> int:
        return x.d if isinstance(x, Degree) else 0

    def __add__(self, o):
        return Degree(max(self.d, self._deg(o)))

    __radd__ = __add__
    __sub__ = __add__
    __rsub__ = __add__

    def __mul__(self, o):
        return Degree(self.d + self._deg(o))

    __rmul__ = __mul__

    def __neg__(self):
        return self

    def __pow__(self, k: int):
        return Degree(self.d * k)


def degree_of(x) -> int:
    return x.d if isinstance(x, Degree) else 0


RowConstraint = Callable[[Frame, Sequence[int]], list]


@dataclass
class AirShape:
    """What prover and verifier derive from an AIR once (cells read, degrees)."""

    frame_cells: list[Cell]
    num_transition: int
    row_groups: list[tuple[int, int]]  # (row, number of constraints)
    transition_degree: int
    row_degree: int
    composition_chunks: int
    offsets: list[int] = field(default_factory=list)


class Air(ABC):
    """Subclass and fill in the shape (``trace_length``, widths) and the constraints."""

    #: Stable identifier of the AIR and its version (bound into the transcript).
    air_id: str = "abstract"
    trace_length: int
    main_width: int
    aux_width: int = 0
    num_aux_challenges: int = 0

    # -- data -------------------------------------------------------------------------------------
    def public_columns(self) -> np.ndarray:
        """Shape ``(k, n)``; the default AIR has none."""
        return np.zeros((0, self.trace_length), dtype=object)

    @abstractmethod
    def public_input_bytes(self) -> bytes:
        """Everything public that is not a public column (absorbed into the transcript)."""

    # -- constraints ------------------------------------------------------------------------------
    @abstractmethod
    def transition_constraints(self, f: Frame, challenges: Sequence[int]) -> list:
        """Expressions that must be 0 on every row."""

    def row_constraints(self) -> list[tuple[int, RowConstraint]]:
        """``(row, fn)`` pairs; ``fn(frame, challenges)`` returns expressions that are 0 at ``row``."""
        return []

    # -- prover side ------------------------------------------------------------------------------
    def build_aux_trace(self, main: np.ndarray, challenges: Sequence[int]) -> np.ndarray:
        return np.zeros((0, self.trace_length), dtype=object)

    # -- derived ----------------------------------------------------------------------------------
    def shape(self) -> AirShape:
        cached = getattr(self, "_shape_cache", None)
        if cached is not None:
            return cached
        chal = [Degree(0)] * self.num_aux_challenges
        rec = RecordingFrame(lambda cell: Degree(1))
        trans = self.transition_constraints(rec, chal)
        tdeg = max((degree_of(e) for e in trans), default=1)
        groups: dict[int, int] = {}
        rdeg = 1
        for row, fn in self.row_constraints():
            if not 0 <= row < self.trace_length:
                raise ValueError(f"row constraint on row {row} outside the trace")
            exprs = fn(rec, chal)
            groups[row] = groups.get(row, 0) + len(exprs)
            rdeg = max([rdeg] + [degree_of(e) for e in exprs])
        # deg(C / Z_H) < (tdeg - 1) * n ; deg(C / (x - w^row)) < rdeg * n.
        chunks = max(tdeg - 1, rdeg, 1)
        trace_cells = sorted(c for c in rec.cells if c[0] != PUB)
        pub_cells = sorted(c for c in rec.cells if c[0] == PUB)
        shape = AirShape(
            frame_cells=trace_cells + pub_cells,
            num_transition=len(trans),
            row_groups=sorted(groups.items()),
            transition_degree=tdeg,
            row_degree=rdeg,
            composition_chunks=chunks,
            offsets=sorted({c[2] for c in rec.cells}),
        )
        self._shape_cache = shape
        return shape

    def check_trace(self, main: np.ndarray, aux: np.ndarray, challenges: Sequence[int]) -> list[str]:
        """Evaluate every constraint on the trace itself; return the failures (prover self-check)."""
        n = self.trace_length
        pub = self.public_columns()

        def frame_at(row: int) -> Frame:
            class _F(Frame):
                def cell(_, seg, col, off):  # noqa: N805
                    src = main if seg == MAIN else aux if seg == AUX else pub
                    return int(src[col][(row + off) % n])

            return _F()

        failures: list[str] = []

        class _V(Frame):  # vectorised over rows: a cell is a whole column, rotated by its offset
            def cell(_, seg, col, off):  # noqa: N805
                src = main if seg == MAIN else aux if seg == AUX else pub
                return np.roll(np.asarray(src[col], dtype=object), -off)

        for i, e in enumerate(self.transition_constraints(_V(), challenges)):
            if isinstance(e, np.ndarray):
                vals = np.asarray(e, dtype=object) % P
            else:
                vals = np.full(n, int(e) % P, dtype=object)
            bad = np.nonzero(vals != 0)[0]
            if len(bad):
                failures.append(f"transition constraint {i} fails on rows {bad[:5].tolist()}")
        for row, fn in self.row_constraints():
            for i, e in enumerate(fn(frame_at(row), challenges)):
                if int(e) % P:
                    failures.append(f"row constraint {i} at row {row} fails")
        return failures
