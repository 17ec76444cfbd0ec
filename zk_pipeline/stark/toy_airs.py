"""Two small AIRs that exercise the generic prover and verifier in tests and benchmarks.

* :class:`FibonacciAir` — two columns, a public selector, row constraints;
* :class:`RangeCheckAir` — 16-bit values split into two byte limbs, checked
  with LogUp (so an aux trace and a public table column).
"""

from __future__ import annotations

import numpy as np

from zk_pipeline.stark.air import Air, Frame
from zk_pipeline.stark.field import P
from zk_pipeline.stark.logup import LogUp, multiplicities, table_column


class FibonacciAir(Air):
    air_id = "zk-pipeline/toy/fibonacci/v1"
    main_width = 2

    def __init__(self, n: int, result: int):
        self.trace_length = n
        self.result = result % P

    @staticmethod
    def trace(n: int) -> tuple[np.ndarray, int]:
        a, b = [1] * n, [1] * n
        for i in range(1, n):
            a[i], b[i] = b[i - 1], (a[i - 1] + b[i - 1]) % P
        return np.array([a, b], dtype=object), b[-1]

    def public_input_bytes(self) -> bytes:
        return self.result.to_bytes(32, "big")

    def public_columns(self) -> np.ndarray:
        sel = np.ones(self.trace_length, dtype=object)
        sel[-1] = 0
        return sel.reshape(1, -1)

    def transition_constraints(self, f: Frame, challenges) -> list:
        a, b, a1, b1 = f.main(0), f.main(1), f.main(0, 1), f.main(1, 1)
        s = f.pub(0)
        return [s * (a1 - b), s * (b1 - a - b)]

    def row_constraints(self):
        last = self.trace_length - 1
        return [
            (0, lambda f, c: [f.main(0) - 1, f.main(1) - 1]),
            (last, lambda f, c: [f.main(1) - self.result]),
        ]


class RangeCheckAir(Air):
    """Column 0 holds values ``< 2^16``; columns 1, 2 their byte limbs; column 3 multiplicities."""

    air_id = "zk-pipeline/toy/range-check/v1"
    main_width = 4
    num_aux_challenges = 1

    def __init__(self, values: list[int], n: int):
        self.trace_length = n
        self.values = list(values) + [0] * (n - len(values))
        self.logup = LogUp([1, 2], mult_col=3, table_pub_col=0, group_size=2)
        self.aux_width = self.logup.aux_width

    def trace(self) -> np.ndarray:
        v = np.array(self.values, dtype=object)
        lo = np.array([x & 0xFF for x in self.values], dtype=object)
        hi = np.array([(x >> 8) & 0xFF for x in self.values], dtype=object)
        m = multiplicities(np.array([lo, hi]), self.trace_length)
        return np.array([v, lo, hi, m], dtype=object)

    def public_input_bytes(self) -> bytes:
        return b"".join(int(x).to_bytes(32, "big") for x in self.values)

    def public_columns(self) -> np.ndarray:
        vals = np.array(self.values, dtype=object)
        return np.array([table_column(self.trace_length), vals], dtype=object)

    def transition_constraints(self, f: Frame, challenges) -> list:
        (alpha,) = challenges
        v, lo, hi = f.main(0), f.main(1), f.main(2)
        return [v - f.pub(1), v - lo - 256 * hi] + self.logup.constraints(f, alpha)

    def build_aux_trace(self, main: np.ndarray, challenges) -> np.ndarray:
        return self.logup.build(main, table_column(self.trace_length), challenges[0])
