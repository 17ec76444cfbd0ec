"""Where every value of the allocation AIR lives: its main and public columns.

Two *lanes*, one per protocol (jediswap = lane 0, ekubo = lane 1), side by side.
Each lane has 29 main columns::

    r  b  s1  s2  v  fe  A  B  C  a0..a7  b0..b7  c0..c3

``A``, ``B`` are 64-bit and ``C`` a 32-bit range-checked *slot*: on every row
``A = sum_j 256^j a_j`` (likewise ``B``, ``C``) and every limb is proven to be a
byte by one LogUp argument against the public table column ``row mod 256``. One
more main column holds the LogUp multiplicities (59 main columns).

Public columns (never committed; the verifier interpolates them itself): ``sel``
(1 on the return rows), the byte table, and per lane the prices, volumes and fees.
docs/stark.md ("The AIR") derives the constraints on these columns.
"""

from __future__ import annotations

from zk_pipeline.features.fixed_point import RETURN_SCALE

#: The scale of a return (``10^8``): returns are capped at ``S`` (a 100 % move).
S = RETURN_SCALE
TWO64 = 2**64
LANES = 2
# lane columns
R, B, S1, S2, V, FE, SA, SB, SC = range(9)
#: byte limbs of the slots A, B (64-bit) and C (32-bit)
SLOT_LIMBS = (8, 8, 4)
SLOT_LIMB0 = (9, 17, 25)
LANE_W = 9 + sum(SLOT_LIMBS)
MULT = LANES * LANE_W
MAIN_WIDTH = MULT + 1
# public columns
PUB_SEL, PUB_TABLE = 0, 1


def PUB_PRICE(lane: int) -> int:
    return 2 + 3 * lane


def PUB_VOL(lane: int) -> int:
    return 3 + 3 * lane


def PUB_FEE(lane: int) -> int:
    return 4 + 3 * lane


def col(lane: int, c: int) -> int:
    return lane * LANE_W + c


def limb_cols() -> list[int]:
    return [col(lane, 9 + j) for lane in range(LANES) for j in range(sum(SLOT_LIMBS))]
