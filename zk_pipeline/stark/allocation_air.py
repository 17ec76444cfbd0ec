"""The AIR of the allocation statement: raw series -> features -> risk -> allocation.

Layout (``W`` = volatility window, ``m = W - 1`` returns, ``n`` = trace rows)
----------------------------------------------------------------------------
Two *lanes*, one per protocol (jediswap = lane 0, ekubo = lane 1), side by
side. Each lane has 29 main columns::

    r  b  s1  s2  v  fe  A  B  C  a0..a7  b0..b7  c0..c3

``A``, ``B`` are **64-bit range-checked slots** and ``C`` a **32-bit** one: on
every row ``A = sum_j 256^j a_j`` (likewise ``B``, ``C``) and every limb is
proven to be a byte by one LogUp argument (:mod:`logup`) against the public
table column ``row mod 256``. One more main column holds the LogUp
multiplicities (59 main columns), and the aux trace holds 14 LogUp helpers and
the running sum (15 columns).

Public columns (never committed; the verifier interpolates them itself):
``sel`` (1 on rows ``0..m-1``), the byte table, and per lane the prices
(rows ``0..W-1``), volumes and fees (the last ``U`` rows of the window).

Rows ``0..m-1`` — the returns (transition constraints, switched by ``sel``)
----------------------------------------------------------------------------
With ``prev = price[i]``, ``cur = price[i+1]``, ``N = (cur - prev) * S`` the row
proves ``r = min(floor(N / prev), S)`` through the *capped division* gadget
(bit ``b`` says whether the cap bites)::

    b = 0:  N = r * prev + A,  prev - 1 - A = B,  S - r = C      (A < prev, S - 2^32 < r <= S)
    b = 1:  r = S,  N - (S + 1) * prev = A + 2^64 * B             (floor(N/prev) > S)

and accumulates ``s1' = s1 + r``, ``s2' = s2 + r^2``, ``v' = v + volume'``,
``fe' = fe + fee'`` (with ``s1 = s2 = 0``, ``v = volume[0]``, ``fe = fee[0]`` on
row 0). Because every slot is below ``2^64`` all of these hold over the
integers: no product can wrap around ``p``.

Rows ``m..m+K-1`` — the tail (row constraints anchored at row ``m``)
---------------------------------------------------------------------
A straight-line program (:func:`_tail_program`) over the same columns: each
step takes fresh slots/cells from the tail block and adds constraints that may
read any tail cell (offsets ``0..K-1`` from row ``m``). Per protocol:
``isqrt`` of the radicand (``root^2 <= rad <= root^2 + 2 root``), the floor
division by ``m * S``, the 10 000 caps, utilization (capped division), APY,
liquidity tier comparisons, the age (with its sign branch), the five risk
terms (each floor division with quotient, remainder and slack range-checked;
the age term with its ``age < cap`` branch), the clamp to
``[risk_min, risk_max]``; then the allocation: scores, the zero-total branch,
the split and its clamp. The claimed outputs enter as constants; the model
parameters too.

The tail block takes 14 rows (54 big and 25 small slots); the trace has
``n = next_pow2(max(256, m + 14))`` rows — 1024 for the 720-hour window.

Why range checks make this sound: every equation ``x = q * d + r`` is checked
with ``0 <= r < d`` (``r`` and ``d - 1 - r`` in slots) and ``q`` bounded (a slot,
or a public output), so both sides are integers far below ``p`` and the field
equation is the integer equation; ``min``/``max``/clamps/comparisons put the
difference that must be non-negative into a slot, selected by a boolean cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from zk_pipeline.features.fixed_point import BPS, RETURN_SCALE
from zk_pipeline.features.volatility import ANNUALIZE_BPS2
from zk_pipeline.risk.model import ALLOCATION_ORDER, SECONDS_PER_DAY, ModelResult
from zk_pipeline.stark.air import Air, Frame
from zk_pipeline.stark.field import P
from zk_pipeline.stark.logup import LIMB_BITS, LogUp, multiplicities, table_column

#: Program identifier of this AIR (its constraints and layout); bump on any change.
AIR_ID = "zk-pipeline/allocation-air/v1"

S = RETURN_SCALE
TWO64 = 2**64
LANES = 2
# lane columns
R, B, S1, S2, V, FE, SA, SB, SC = range(9)
#: byte limbs of the slots A, B (64-bit) and C (32-bit)
SLOT_LIMBS = (8, 8, 4)
SLOT_LIMB0 = (9, 17, 25)
LANE_W = 9 + sum(SLOT_LIMBS)
TWO32 = 2**32
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


class StatementNotSupported(ValueError):
    """The statement is valid for the model but outside what this AIR can prove."""


# ------------------------------------------------------------------------------------------------
# Public data of a statement
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublicData:
    window: int  # W
    util_window: int  # U
    hour_unix: int
    params: Any  # ModelParams
    prices: tuple[tuple[int, ...], ...]
    volumes: tuple[tuple[int, ...], ...]
    fees: tuple[tuple[int, ...], ...]
    tvl: tuple[int, ...]
    audit: tuple[int, ...]
    launch: tuple[int, ...]
    out: dict  # claimed outputs, flattened: ("vol_ann", lane) -> int, ("jedi",) -> int, ...
    canonical: bytes


def _claimed_int(d: Any, path: str, bound: int) -> int:
    cur = d
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise StatementNotSupported(f"claimed outputs lack {path!r}")
        cur = cur[key]
    if isinstance(cur, bool) or not isinstance(cur, int) or not 0 <= cur < bound:
        raise StatementNotSupported(f"claimed output {path!r} must be an integer in [0, {bound})")
    return cur


#: The claimed outputs, exactly: ``ModelResult.summary()``'s keys. Anything else would be bound into the
#: statement hash without being proven, so it is refused.
PROTOCOL_OUTPUT_KEYS = frozenset({"volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps",
                                  "liquidity_tier", "age_days", "risk"})
ALLOCATION_OUTPUT_KEYS = frozenset({"jediswap_bps", "ekubo_bps"})


def _check_output_keys(o: Any) -> None:
    def exact(d: Any, keys, where: str) -> None:
        if not isinstance(d, dict) or set(d) != set(keys):
            extra = sorted(set(d) - set(keys)) if isinstance(d, dict) else []
            raise StatementNotSupported(f"claimed outputs {where} must have exactly the keys {sorted(keys)}"
                                        + (f" (unexpected: {extra})" if extra else ""))

    exact(o, {"protocols", "allocation"}, "(top level)")
    exact(o["protocols"], ALLOCATION_ORDER, "protocols")
    for name in ALLOCATION_ORDER:
        exact(o["protocols"][name], PROTOCOL_OUTPUT_KEYS, f"protocols.{name}")
    exact(o["allocation"], ALLOCATION_OUTPUT_KEYS, "allocation")


def public_data(statement) -> PublicData:
    """Extract (and bound-check) everything public from a statement with claimed outputs.

    The series are checked against the model's own input rules again (lengths, prices in
    ``1..2^63-1``, ...): the AIR's "nothing wraps" argument rests on those bounds, and a
    statement built in code need not have passed ``Statement.from_dict``.
    """
    if statement.outputs is None:
        raise StatementNotSupported("the statement has no claimed outputs to prove or verify")
    for name in ALLOCATION_ORDER:
        if name not in statement.series:
            raise StatementNotSupported(f"the statement has no series for {name}")
        try:
            statement.series[name].check(statement.params, name)
        except ValueError as exc:
            raise StatementNotSupported(f"series the model refuses: {exc}") from None
    _check_output_keys(statement.outputs)
    p = statement.params
    for name, value in p.to_dict().items():
        if name in ("protocols", "liquidity_tier_thresholds"):
            continue
        for x in value if isinstance(value, list) else [value]:
            if not 0 <= x < 2**32:
                raise StatementNotSupported(f"model parameter {name} must be below 2**32 for the AIR")
    if any(not 0 <= t < 2**63 for t in p.liquidity_tier_thresholds):
        raise StatementNotSupported("liquidity thresholds must be below 2**63 for the AIR")
    o = statement.outputs
    out: dict = {}
    for lane, name in enumerate(ALLOCATION_ORDER):
        pre = f"protocols.{name}."
        out[("vol_ann", lane)] = _claimed_int(o, pre + "volatility_annualized_bps", 2**64)
        out[("vol_bps", lane)] = _claimed_int(o, pre + "volatility_bps", 2**64)
        out[("util", lane)] = _claimed_int(o, pre + "utilization_bps", 2**64)
        out[("apy", lane)] = _claimed_int(o, pre + "apy_bps", 2**128)
        out[("tier", lane)] = _claimed_int(o, pre + "liquidity_tier", 4)
        out[("age", lane)] = _claimed_int(o, pre + "age_days", 2**64)
        out[("risk", lane)] = _claimed_int(o, pre + "risk", 2**64)
    out[("jedi",)] = _claimed_int(o, "allocation.jediswap_bps", 2**64)
    out[("ekubo",)] = _claimed_int(o, "allocation.ekubo_bps", 2**64)
    hour = statement.hour_unix
    launch = tuple(p.protocols[name].launch_unix for name in ALLOCATION_ORDER)
    if any(abs(hour - x) >= 2**62 for x in launch):
        raise StatementNotSupported("hour and launch times too far apart")
    return PublicData(
        window=p.volatility_window_hours,
        util_window=p.utilization_window_hours,
        hour_unix=hour,
        params=p,
        prices=tuple(statement.series[n].prices for n in ALLOCATION_ORDER),
        volumes=tuple(statement.series[n].volumes for n in ALLOCATION_ORDER),
        fees=tuple(statement.series[n].fees for n in ALLOCATION_ORDER),
        tvl=tuple(statement.series[n].tvl for n in ALLOCATION_ORDER),
        audit=tuple(p.protocols[n].audit_score for n in ALLOCATION_ORDER),
        launch=launch,
        out=out,
        canonical=statement.canonical_bytes(),
    )


# ------------------------------------------------------------------------------------------------
# The tail: a tiny allocator of slots and cells, and the program
# ------------------------------------------------------------------------------------------------
Expr = Callable[[Frame], Any]


class _Tail:
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


def _protocol_program(t: _Tail, pd: PublicData, lane: int, name: str, res: ModelResult | None) -> None:
    """One protocol's features and risk (its own scope, so the constraint closures bind this lane)."""
    p = pd.params
    m = pd.window - 1
    prover = res is not None
    pr = res.protocols[name] if prover else None
    vt = pr.volatility if prover else None
    s1 = (lambda c: (lambda f: f.main(c, 0)))(col(lane, S1))
    s2 = (lambda c: (lambda f: f.main(c, 0)))(col(lane, S2))
    vsum = (lambda c: (lambda f: f.main(c, 0)))(col(lane, V))
    fsum = (lambda c: (lambda f: f.main(c, 0)))(col(lane, FE))
    out = {k[0]: v for k, v in pd.out.items() if len(k) == 2 and k[1] == lane}
    tvl = pd.tvl[lane]

    # volatility: rad = (m*s2 - s1^2) * ANN ; root = isqrt(rad)
    def rad(f, s1=s1, s2=s2):
        return (m * s2(f) - s1(f) * s1(f)) * ANNUALIZE_BPS2

    root_v = vt.root if prover else 0
    rad_v = vt.radicand if prover else 0
    root = t.slot(root_v)
    e1 = t.wide(rad_v - root_v * root_v)
    e2 = t.wide(2 * root_v - (rad_v - root_v * root_v))
    t.zero(lambda f, root=root, e1=e1, rad=rad: rad(f) - root(f) * root(f) - e1(f))
    t.zero(lambda f, root=root, e1=e1, e2=e2: 2 * root(f) - e1(f) - e2(f))
    # volatility_annualized_bps = floor(root / (m * S)) — the claimed output is the quotient
    va = out["vol_ann"]
    rr_v = root_v - va * m * S if prover else 0
    rr = t.slot(rr_v)
    t.zero(lambda f, root=root, rr=rr, va=va: root(f) - va * (m * S) - rr(f))
    t.nonneg(lambda f, rr=rr: m * S - 1 - rr(f), m * S - 1 - rr_v)
    # volatility_bps = min(10000, volatility_annualized_bps)
    vb = out["vol_bps"]
    t.min_const(const(va), va, BPS, const(vb))

    # utilization = min(10000, floor(V * 10000 / tvl)) — capped division, like the returns
    u = out["util"]
    n_v = pr.volume_sum * BPS if prover else 0
    capped = prover and n_v // tvl > BPS
    cb = t.bit(int(capped))
    if prover and capped:
        g = n_v - (BPS + 1) * tvl
        ua, ub, uc = t.slot(g % TWO64), t.slot(g // TWO64), t.slot(0, small=True)
    else:
        ra = n_v % tvl if prover else 0
        ua, ub = t.slot(ra), t.slot(tvl - 1 - ra if prover else 0)
        uc = t.slot(BPS - u if prover else 0, small=True)

    def nu(f, vsum=vsum):
        return vsum(f) * BPS

    t.zero(lambda f, cb=cb, nu=nu, ua=ua, u=u: (1 - cb(f)) * (nu(f) - u * tvl - ua(f)))
    t.zero(lambda f, cb=cb, ua=ua, ub=ub: (1 - cb(f)) * (tvl - 1 - ua(f) - ub(f)))
    t.zero(lambda f, cb=cb, uc=uc, u=u: (1 - cb(f)) * (BPS - u - uc(f)))
    t.zero(lambda f, cb=cb, u=u: cb(f) * (u - BPS))
    t.zero(lambda f, cb=cb, nu=nu, ua=ua, ub=ub: cb(f) * (nu(f) - (BPS + 1) * tvl - ua(f) - TWO64 * ub(f)))

    # apy = floor(F * 365 * 10000 / tvl) — the claimed output is the quotient
    ap = out["apy"]
    ar_v = pr.fees_sum * 365 * BPS - ap * tvl if prover else 0
    ar = t.slot(ar_v)
    t.zero(lambda f, fsum=fsum, ar=ar, ap=ap: fsum(f) * (365 * BPS) - ap * tvl - ar(f))
    t.nonneg(lambda f, ar=ar: tvl - 1 - ar(f), tvl - 1 - ar_v)

    # liquidity tier: tvl >= threshold[tier] (tier < 3) and tvl < threshold[tier - 1] (tier > 0)
    tier = out["tier"]
    th = p.liquidity_tier_thresholds
    lower = tvl - th[tier] if tier < 3 else 0
    upper = th[tier - 1] - 1 - tvl if tier > 0 else 0
    t.nonneg(const(lower), lower)
    t.nonneg(const(upper), upper)
    liquidity_term = p.liquidity_tier_risk[tier]

    # age = max(0, floor((hour - launch) / 86400)); c = 1 when hour < launch
    age = out["age"]
    diff = pd.hour_unix - pd.launch[lane]
    neg = diff < 0
    ca = t.bit(int(neg))
    rem_v = (-diff - 1) if neg else diff - age * SECONDS_PER_DAY
    arem = t.slot(rem_v if prover else 0)
    aslack = t.slot(0 if neg or not prover else SECONDS_PER_DAY - 1 - rem_v)
    t.zero(lambda f, ca=ca, arem=arem: (1 - ca(f)) * (diff - age * SECONDS_PER_DAY - arem(f)))
    t.zero(lambda f, ca=ca, arem=arem, aslack=aslack: (1 - ca(f)) * (SECONDS_PER_DAY - 1 - arem(f) - aslack(f)))
    t.zero(lambda f, ca=ca: ca(f) * age)
    t.zero(lambda f, ca=ca, arem=arem: ca(f) * (-diff - 1 - arem(f)))

    # risk terms, each floored on its own
    ut = t.floor_div(const(u * p.utilization_weight), const(p.weight_den), u * p.utilization_weight, p.weight_den)
    vtm = t.floor_div(const(vb * p.volatility_weight), const(p.weight_den), vb * p.volatility_weight,
                      p.weight_den)
    audit_n = (100 - pd.audit[lane]) * p.audit_num
    at = t.floor_div(const(audit_n), const(p.audit_den), audit_n, p.audit_den)
    # age term: age < cap ? floor((cap - age) * aw / cap) : 0
    cap = p.age_cap_days
    young = age < cap
    cy = t.bit(int(young))
    cmp = t.slot((cap - 1 - age) if young else (age - cap))
    t.zero(lambda f, cy=cy, cmp=cmp: cmp(f) - cy(f) * (cap - 1 - age) - (1 - cy(f)) * (age - cap))
    gn = (cap - age) * p.age_weight
    q_v, r_v = divmod(gn, cap) if young else (0, 0)
    gq, gr = t.slot(q_v, small=True), t.slot(r_v, small=True)
    gs = t.slot(cap - 1 - r_v if young else 0, small=True)
    t.zero(lambda f, cy=cy, gq=gq, gr=gr: cy(f) * (gn - gq(f) * cap - gr(f)))
    t.zero(lambda f, cy=cy, gr=gr, gs=gs: cy(f) * (cap - 1 - gr(f) - gs(f)))
    t.zero(lambda f, cy=cy, gq=gq: (1 - cy(f)) * gq(f))

    def raw(f, ut=ut, vtm=vtm, at=at, gq=gq, lt=liquidity_term):
        return ut(f) + vtm(f) + lt + at(f) + gq(f)

    raw_v = pr.risk_raw if prover else 0
    risk = out["risk"]
    t.clamp(raw, raw_v, p.risk_min, p.risk_max, const(risk))


def _tail_program(t: _Tail, pd: PublicData, res: ModelResult | None) -> None:
    """The model after the returns, as constraints on the tail block (see module docstring)."""
    p = pd.params
    prover = res is not None
    for lane, name in enumerate(ALLOCATION_ORDER):
        _protocol_program(t, pd, lane, name, res)

    # allocation: score = floor(apy * 10000 / (risk + 1)); split; clamp
    alloc = res.allocation if prover else None
    scores = []
    for lane, name in enumerate(ALLOCATION_ORDER):
        ap, rk = pd.out[("apy", lane)], pd.out[("risk", lane)]
        scores.append(t.floor_div(const(ap * BPS), const(rk + 1), ap * BPS, rk + 1, wide_q=True))
    sj, se = scores
    sj_v = alloc.scores["jediswap"] if prover else 0
    tot_v = sj_v + (alloc.scores["ekubo"] if prover else 0)

    def total(f):
        return sj(f) + se(f)

    zt = t.bit(int(prover and tot_v == 0))
    inv_t = t.cell(pow(tot_v, -1, P) if prover and tot_v else 0)
    t.zero(lambda f: total(f) * inv_t(f) - (1 - zt(f)))
    t.zero(lambda f: zt(f) * total(f))
    raw_j_v = alloc.raw_jediswap_bps if prover else 0
    rj = t.slot(raw_j_v, small=True)
    rem_v = sj_v * BPS - raw_j_v * tot_v if prover and tot_v else 0
    jr = t.wide(rem_v)
    js = t.wide(tot_v - 1 - rem_v if prover and tot_v else 0)
    t.zero(lambda f: (1 - zt(f)) * (sj(f) * BPS - rj(f) * total(f) - jr(f)))
    t.zero(lambda f: (1 - zt(f)) * (total(f) - 1 - jr(f) - js(f)))
    t.zero(lambda f: zt(f) * (rj(f) - BPS // 2))
    lo = max(p.min_single_bps, BPS - p.max_single_bps)
    hi = min(p.max_single_bps, BPS - p.min_single_bps)
    jedi, ekubo = pd.out[("jedi",)], pd.out[("ekubo",)]
    t.clamp(rj, raw_j_v, lo, hi, const(jedi))
    t.zero(lambda f: jedi + ekubo - BPS)


# ------------------------------------------------------------------------------------------------
# The AIR
# ------------------------------------------------------------------------------------------------
class AllocationAir(Air):
    air_id = AIR_ID
    main_width = MAIN_WIDTH
    num_aux_challenges = 1

    def __init__(self, pd: PublicData, result: ModelResult | None = None, min_trace_length: int = 256):
        """``min_trace_length`` pads the trace (benchmarks of larger traces); it is part of the proof."""
        self.pd = pd
        self.m = pd.window - 1
        tail = _Tail(prover=result is not None)
        _tail_program(tail, pd, result)
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

