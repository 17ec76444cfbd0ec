"""The tail block's allocator: fresh range-checked slots and free cells, and the gadgets built on them.

The rows after the returns hold a straight-line program (:mod:`.program`). Prover
and verifier run the same program, so this allocator hands out slots and cells in
a fixed order and both sides get the same constraints; only the prover records
values. Each gadget (non-negativity, floor division, ``min``, clamp) puts the
quantity that must be non-negative into a slot, which the LogUp range check bounds.
"""

from __future__ import annotations

from typing import Any, Callable

from zk_pipeline.circuits.allocation.layout import LANES, R, SA, SC, TWO64, col
from zk_pipeline.stark.air import Frame

Expr = Callable[[Frame], Any]


class Tail:
    """Hands out the tail block's free slots and cells in a fixed order, collects constraints.

    A *handle* is a function ``frame -> value`` reading one cell at its offset
    from the anchor row. ``values`` (prover only) records what the witness puts
    in each cell; the verifier builds the same program with ``values = None``.
    """

    def __init__(self, prover: bool):
        self.constraints: list[Expr] = []
        self.values: dict[tuple[int, int], int] | None = {} if prover else None
        self._slot_i = 0  # big (64-bit) slots: A and B of each lane on each row
        self._small_i = 0  # small (32-bit) slots: C of each lane on each row
        self._cell_i = 0
        self.rows = 1

    def _slot_pos(self, i: int) -> tuple[int, int]:
        off, rest = divmod(i, LANES * 2)
        lane, which = divmod(rest, 2)
        return off, col(lane, SA + which)

    def _small_pos(self, i: int) -> tuple[int, int]:
        off, lane = divmod(i, LANES)
        return off, col(lane, SC)

    def _cell_pos(self, i: int) -> tuple[int, int]:
        # offset 0: only r and b are free (s1, s2, v, fe hold the sums); later rows: all six.
        if i < 2 * LANES:
            lane, which = divmod(i, 2)
            return 0, col(lane, R + which)
        off, rest = divmod(i - 2 * LANES, 6 * LANES)
        lane, which = divmod(rest, 6)
        return off + 1, col(lane, R + which)

    def _handle(self, off: int, c: int, value: int | None) -> Expr:
        self.rows = max(self.rows, off + 1)
        if self.values is not None:
            self.values[(off, c)] = int(value)
        return lambda f: f.main(c, off)

    def slot(self, value: int | None = 0, small: bool = False) -> Expr:
        """A fresh cell proven to hold an integer in ``[0, 2^64)`` (``small``: ``[0, 2^32)``)."""
        if small:
            off, c = self._small_pos(self._small_i)
            self._small_i += 1
        else:
            off, c = self._slot_pos(self._slot_i)
            self._slot_i += 1
        # An out-of-range value (only from inconsistent claimed outputs) is kept as is: its limbs
        # cannot add up to it, so the prover's self-check (or the verifier) rejects the trace.
        return self._handle(off, c, value)

    def wide(self, value: int | None = 0) -> Expr:
        """Two slots read as one integer in ``[0, 2^128)``."""
        v = int(value or 0)
        lo, hi = self.slot(v % TWO64 if v >= 0 else 0), self.slot(v // TWO64 if v >= 0 else TWO64)
        return lambda f: lo(f) + TWO64 * hi(f)

    def cell(self, value: int | None = 0) -> Expr:
        """A fresh unconstrained cell."""
        off, c = self._cell_pos(self._cell_i)
        self._cell_i += 1
        return self._handle(off, c, value)

    def bit(self, value: int | None = 0) -> Expr:
        h = self.cell(value)
        self.zero(lambda f: h(f) * (1 - h(f)))
        return h

    def zero(self, expr: Expr) -> None:
        self.constraints.append(expr)

    # -- gadgets ----------------------------------------------------------------------------------
    def nonneg(self, expr: Expr, value: int | None, small: bool = False) -> None:
        """``expr >= 0`` (and ``< 2^64``, or ``2^32`` if ``small``): it equals a slot."""
        s = self.slot(value, small)
        self.zero(lambda f: expr(f) - s(f))

    def floor_div(self, num: Expr, den: Expr, num_v, den_v, wide_q: bool = False) -> Expr:
        """A handle to ``floor(num / den)`` (``0 < den < 2^32``): quotient, remainder, slack in slots."""
        q_v, r_v = divmod(num_v, den_v) if self.values is not None else (0, 0)
        q = self.wide(q_v) if wide_q else self.slot(q_v)
        rem = self.slot(r_v, small=True)
        self.zero(lambda f: num(f) - q(f) * den(f) - rem(f))
        self.nonneg(lambda f: den(f) - 1 - rem(f), den_v - 1 - r_v if self.values is not None else 0, small=True)
        return q

    def min_const(self, x: Expr, x_v, cap: int, result: Expr) -> None:
        """``result == min(x, cap)`` (a selector bit and one slot)."""
        over = (x_v > cap) if self.values is not None else False
        c = self.bit(int(over))
        d = self.slot((x_v - cap - 1) if over else (cap - x_v) if self.values is not None else 0)
        self.zero(lambda f: d(f) - c(f) * (x(f) - cap - 1) - (1 - c(f)) * (cap - x(f)))
        self.zero(lambda f: result(f) - c(f) * cap - (1 - c(f)) * x(f))

    def clamp(self, x: Expr, x_v, lo: int, hi: int, result: Expr) -> None:
        """``result == clamp(x, lo, hi)`` for ``lo <= hi``: two exclusive bits and two slots."""
        if self.values is not None:
            below, above = x_v < lo, x_v > hi
        else:
            below = above = False
        cl, ch = self.bit(int(below)), self.bit(int(above))
        self.zero(lambda f: cl(f) * ch(f))
        d1 = self.slot((lo - 1 - x_v) if below else (x_v - lo) if self.values is not None else 0)
        d2 = self.slot((x_v - hi - 1) if above else (hi - x_v) if self.values is not None else 0)
        self.zero(lambda f: d1(f) - cl(f) * (lo - 1 - x(f)) - (1 - cl(f)) * (x(f) - lo))
        self.zero(lambda f: d2(f) - ch(f) * (x(f) - hi - 1) - (1 - ch(f)) * (hi - x(f)))
        self.zero(lambda f: result(f) - cl(f) * lo - ch(f) * hi - (1 - cl(f) - ch(f)) * x(f))


def const(c: int) -> Expr:
    return lambda f: c
