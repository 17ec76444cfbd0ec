"""The AIR of the allocation statement: raw series -> features -> risk -> allocation.

Rows ``0..m-1`` (``m = W - 1`` returns) prove the returns with transition
constraints switched on by the public selector: each row proves
``r = min(floor((cur - prev) * S / prev), S)`` by the *capped division* gadget and
accumulates ``s1 += r``, ``s2 += r^2``, ``v += volume``, ``fe += fee``. Rows from
``m`` on hold the rest of the model (:mod:`.program`) as row constraints anchored
at row ``m``. The trace has ``n = next_pow2(max(256, m + 14))`` rows: 1024 for the
720-hour window. docs/stark.md ("The AIR") gives the constraints and why nothing
wraps around ``p``.
"""

from __future__ import annotations

import numpy as np

from zk_pipeline.circuits.allocation.layout import (
    B, FE, LANE_W, LANES, MAIN_WIDTH, MULT, PUB_FEE, PUB_PRICE, PUB_SEL, PUB_TABLE, PUB_VOL, R, S, S1, S2, SA, SB,
    SC, SLOT_LIMB0, SLOT_LIMBS, TWO64, V, col, limb_cols,
)
from zk_pipeline.circuits.allocation.program import tail_program
from zk_pipeline.circuits.allocation.public import PublicData
from zk_pipeline.circuits.allocation.tail import Tail
from zk_pipeline.risk.model import ALLOCATION_ORDER, ModelResult
from zk_pipeline.stark.air import Air, Frame
from zk_pipeline.stark.field import P
from zk_pipeline.stark.logup import LIMB_BITS, LogUp, multiplicities, table_column

#: Program identifier of this AIR (its constraints and layout); bump on any change.
AIR_ID = "zk-pipeline/allocation-air/v1"
#: Version of :data:`AIR_ID` on its own, for deriving a program hash.
AIR_VERSION = 1


class AllocationAir(Air):
    air_id = AIR_ID
    main_width = MAIN_WIDTH
    num_aux_challenges = 1

    def __init__(self, pd: PublicData, result: ModelResult | None = None, min_trace_length: int = 256):
        """``min_trace_length`` pads the trace (benchmarks of larger traces); it is part of the proof."""
        self.pd = pd
        self.m = pd.window - 1
        tail = Tail(prover=result is not None)
        tail_program(tail, pd, result)
        self.tail = tail
        rows = self.m + tail.rows
        n = 256
        while n < rows or n < min_trace_length:
            n *= 2
        self.trace_length = n
        self.logup = LogUp(limb_cols(), MULT, PUB_TABLE, group_size=3)
        self.aux_width = self.logup.aux_width
        self._pub = None

    # -- public -----------------------------------------------------------------------------------
    def public_input_bytes(self) -> bytes:
        return self.pd.canonical

    def public_columns(self) -> np.ndarray:
        if self._pub is None:
            n, W, U = self.trace_length, self.pd.window, self.pd.util_window
            pub = np.zeros((2 + 3 * LANES, n), dtype=object)
            pub[PUB_SEL, : self.m] = 1
            pub[PUB_TABLE] = table_column(n)
            for lane in range(LANES):
                pub[PUB_PRICE(lane), :W] = self.pd.prices[lane]
                pub[PUB_VOL(lane), W - U : W] = self.pd.volumes[lane]
                pub[PUB_FEE(lane), W - U : W] = self.pd.fees[lane]
            self._pub = pub
        return self._pub

    # -- constraints ------------------------------------------------------------------------------
    def transition_constraints(self, f: Frame, challenges) -> list:
        out = []
        sel = f.pub(PUB_SEL)
        for lane in range(LANES):
            c = lambda k, off=0, lane=lane: f.main(col(lane, k), off)  # noqa: E731
            for slot in range(3):  # slot = sum of its byte limbs, on every row
                acc = 0
                for j in reversed(range(SLOT_LIMBS[slot])):
                    acc = acc * 256 + c(SLOT_LIMB0[slot] + j)
                out.append(c(SA + slot) - acc)
            prev, cur = f.pub(PUB_PRICE(lane)), f.pub(PUB_PRICE(lane), 1)
            r, b, sa, sb, sc = c(R), c(B), c(SA), c(SB), c(SC)
            num = (cur - prev) * S
            nb = 1 - b
            out += [
                sel * b * nb,
                sel * nb * (num - r * prev - sa),
                sel * nb * (prev - 1 - sa - sb),
                sel * nb * (S - r - sc),
                sel * b * (r - S),
                sel * b * (num - (S + 1) * prev - sa - TWO64 * sb),
                sel * (c(S1, 1) - c(S1) - r),
                sel * (c(S2, 1) - c(S2) - r * r),
                sel * (c(V, 1) - c(V) - f.pub(PUB_VOL(lane), 1)),
                sel * (c(FE, 1) - c(FE) - f.pub(PUB_FEE(lane), 1)),
            ]
        out += self.logup.constraints(f, challenges[0])
        return out

    def row_constraints(self):
        def first_row(f, ch):
            out = []
            for lane in range(LANES):
                out += [f.main(col(lane, S1)), f.main(col(lane, S2)),
                        f.main(col(lane, V)) - f.pub(PUB_VOL(lane)), f.main(col(lane, FE)) - f.pub(PUB_FEE(lane))]
            return out

        tail = self.tail.constraints
        return [(0, first_row), (self.m, lambda f, ch: [e(f) for e in tail])]

    # -- witness ----------------------------------------------------------------------------------
    def build_main_trace(self, result: ModelResult) -> np.ndarray:
        n, m = self.trace_length, self.m
        tr = np.zeros((MAIN_WIDTH, n), dtype=object)
        slots = np.zeros((LANES, 3, n), dtype=object)
        for lane, name in enumerate(ALLOCATION_ORDER):
            vt = result.protocols[name].volatility
            prices = self.pd.prices[lane]
            s1 = s2 = 0
            for i in range(m):
                prev, cur = prices[i], prices[i + 1]
                r = vt.returns[i]
                capped = (cur - prev) * S >= (S + 1) * prev
                tr[col(lane, R), i] = r
                tr[col(lane, B), i] = int(capped)
                if capped:
                    g = (cur - prev) * S - (S + 1) * prev
                    slots[lane, 0, i], slots[lane, 1, i] = g % TWO64, g // TWO64
                else:
                    rem = vt.remainders[i]
                    slots[lane, 0, i], slots[lane, 1, i], slots[lane, 2, i] = rem, prev - 1 - rem, S - r
                tr[col(lane, S1), i], tr[col(lane, S2), i] = s1, s2
                s1 += r
                s2 += r * r
            tr[col(lane, S1), m], tr[col(lane, S2), m] = s1, s2
            assert (s1, s2) == (vt.sum_returns, vt.sum_squares), "model trace and returns disagree"
            vol = self.public_columns()[PUB_VOL(lane)]
            fee = self.public_columns()[PUB_FEE(lane)]
            tr[col(lane, V), : m + 1] = np.cumsum(vol[: m + 1])
            tr[col(lane, FE), : m + 1] = np.cumsum(fee[: m + 1])
        for (off, c), v in self.tail.values.items():
            lane, k = divmod(c, LANE_W)
            if k in (SA, SB, SC):
                slots[lane, k - SA, m + off] = v
            else:
                tr[c, m + off] = v % P
        for lane in range(LANES):
            for s in range(3):
                vals = slots[lane, s]
                tr[col(lane, SA + s)] = vals % P
                low = [int(v) % (1 << (LIMB_BITS * SLOT_LIMBS[s])) for v in vals]  # == v for honest slots
                for j in range(SLOT_LIMBS[s]):
                    tr[col(lane, SLOT_LIMB0[s] + j)] = np.array(
                        [(v >> (LIMB_BITS * j)) & 0xFF for v in low], dtype=object)
        limbs = tr[limb_cols()]
        tr[MULT] = multiplicities(limbs, n)
        return tr

    def build_aux_trace(self, main: np.ndarray, challenges) -> np.ndarray:
        return self.logup.build(main, table_column(self.trace_length), challenges[0])

