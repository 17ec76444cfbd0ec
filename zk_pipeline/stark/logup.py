"""LogUp range checks: "every limb cell is a value of the table ``0..2^8-1``".

For a challenge ``alpha`` drawn *after* the main trace is committed, the
multiset of limbs ``{l}`` is contained in the table ``{t}`` iff (for all but
``~(#limbs + #table) / p`` of the alphas)::

    sum_limbs 1 / (alpha - l)  ==  sum_rows m_row / (alpha - t_row)

where ``m`` is a main column of multiplicities (Haböck, "Multivariate lookups
based on logarithmic derivatives", 2022). The table is the public column
``t_row = row mod 256``; with ``n >= 256`` every byte value occurs, and the
prover puts the whole count of a value on its first occurrence.

Columns added to the aux trace:

* one *helper* per group of ``k`` limb columns, ``h = sum_{j in group} 1/(alpha - l_j)``,
  constrained by ``h * prod_j (alpha - l_j) = sum_j prod_{i != j} (alpha - l_i)``
  (degree ``k + 1``; both sides accumulated fraction by fraction);
* one running sum ``acc`` with ``(acc' - acc - sum h) * (alpha - t) + m = 0``
  on **every** row, including the wrap from the last row to the first. Summed
  around the cycle the left side telescopes to zero, which is exactly the
  LogUp identity; no boundary constraint is needed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from zk_pipeline.stark.air import Frame
from zk_pipeline.stark.field import P, batch_inverse

LIMB_BITS = 8
TABLE_SIZE = 1 << LIMB_BITS


def table_column(n: int) -> np.ndarray:
    if n < TABLE_SIZE:
        raise ValueError(f"LogUp range checks need at least {TABLE_SIZE} rows")
    return np.array([i % TABLE_SIZE for i in range(n)], dtype=object)


def multiplicities(limb_matrix: np.ndarray, n: int) -> np.ndarray:
    """The multiplicity column for the limbs (values must already be bytes)."""
    flat = np.asarray(limb_matrix, dtype=np.int64).ravel() if limb_matrix.size else np.zeros(0, dtype=np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= TABLE_SIZE):
        raise ValueError("a limb is outside the range-check table")
    counts = np.bincount(flat, minlength=TABLE_SIZE)
    m = np.zeros(n, dtype=object)
    m[:TABLE_SIZE] = [int(c) for c in counts]
    return m


def groups(limb_cols: Sequence[int], k: int) -> list[list[int]]:
    return [list(limb_cols[i : i + k]) for i in range(0, len(limb_cols), k)]


class LogUp:
    """The LogUp argument over ``limb_cols`` (main columns) with helpers of ``group_size`` limbs."""

    def __init__(self, limb_cols: Sequence[int], mult_col: int, table_pub_col: int, aux_offset: int = 0,
                 group_size: int = 3):
        self.limb_cols = list(limb_cols)
        self.mult_col = mult_col
        self.table_col = table_pub_col
        self.groups = groups(self.limb_cols, group_size)
        self.aux_offset = aux_offset

    @property
    def aux_width(self) -> int:
        return len(self.groups) + 1

    @property
    def acc_col(self) -> int:
        return self.aux_offset + len(self.groups)

    def constraints(self, f: Frame, alpha) -> list:
        out = []
        hsum = 0
        for gi, g in enumerate(self.groups):
            h = f.aux(self.aux_offset + gi)
            hsum = hsum + h
            # sum_j 1/(alpha - l_j) = num/den, accumulated as N/D + 1/d = (N d + D)/(D d)
            num, den = 1, alpha - f.main(g[0])
            for c in g[1:]:
                d = alpha - f.main(c)
                num, den = num * d + den, den * d
            out.append(h * den - num)
        acc, acc_next = f.aux(self.acc_col), f.aux(self.acc_col, 1)
        out.append((acc_next - acc - hsum) * (alpha - f.pub(self.table_col)) + f.main(self.mult_col))
        return out

    def build(self, main: np.ndarray, table: np.ndarray, alpha: int) -> np.ndarray:
        n = main.shape[1]
        # 1/(alpha - v) for every byte value, then look the limbs up: no per-cell inversion.
        inv_table = batch_inverse([(alpha - v) % P for v in range(TABLE_SIZE)])
        inv_arr = np.array(inv_table, dtype=object)
        def inverses(values: np.ndarray) -> np.ndarray:
            if all(0 <= int(v) < TABLE_SIZE for v in values):
                return inv_arr[np.asarray(values, dtype=np.int64)]
            # only a dishonest (test) prover gets here: the constraint will fail, the helper need not
            return np.array(batch_inverse([(alpha - int(v)) % P or 1 for v in values]), dtype=object)

        helpers = []
        for g in self.groups:
            h = np.zeros(n, dtype=object)
            for c in g:
                h = h + inverses(main[c])
            helpers.append(h % P)
        hsum = np.sum(helpers, axis=0) % P if helpers else np.zeros(n, dtype=object)
        t_inv = inv_arr[np.asarray(table, dtype=np.int64)]
        step = (hsum - main[self.mult_col] * t_inv) % P
        acc = np.zeros(n, dtype=object)
        running = 0
        for i in range(n):
            acc[i] = running
            running = (running + int(step[i])) % P
        return np.array(helpers + [acc], dtype=object).reshape(len(helpers) + 1, n)
