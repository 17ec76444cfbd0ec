"""The model after the returns, as constraints on the tail block (rows ``m..m+13``).

Per protocol: ``isqrt`` of the radicand, the floor division by ``m * S``, the
10 000 caps, utilization (capped division), APY, liquidity tier comparisons, the
age (with its sign branch), the five risk terms and the clamp to
``[risk_min, risk_max]``; then the allocation: scores, the zero-total branch, the
split and its clamp. The claimed outputs and the model parameters enter as
constants. docs/stark.md ("The AIR") tabulates each step and why it is sound.
"""

from __future__ import annotations

from zk_pipeline.circuits.allocation.layout import FE, S, S1, S2, TWO64, V, col
from zk_pipeline.circuits.allocation.public import PublicData
from zk_pipeline.circuits.allocation.tail import Tail, const
from zk_pipeline.features.fixed_point import BPS
from zk_pipeline.features.volatility import ANNUALIZE_BPS2
from zk_pipeline.risk.model import ALLOCATION_ORDER, SECONDS_PER_DAY, ModelResult, share_bounds
from zk_pipeline.stark.field import P


def protocol_program(t: Tail, pd: PublicData, lane: int, name: str, res: ModelResult | None) -> None:
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


def tail_program(t: Tail, pd: PublicData, res: ModelResult | None) -> None:
    """The model after the returns, as constraints on the tail block (the table in docs/stark.md)."""
    p = pd.params
    prover = res is not None
    for lane, name in enumerate(ALLOCATION_ORDER):
        protocol_program(t, pd, lane, name, res)

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
    lo, hi = share_bounds(p)
    jedi, ekubo = pd.out[("jedi",)], pd.out[("ekubo",)]
    t.clamp(rj, raw_j_v, lo, hi, const(jedi))
    t.zero(lambda f: jedi + ekubo - BPS)
