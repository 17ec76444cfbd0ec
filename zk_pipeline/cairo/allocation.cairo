// The risk model, version 1, as a Cairo 0 program (proof mode, layout `small`).
//
// It recomputes, from the statement's raw integers, exactly what the Python
// model (zk_pipeline/risk/model.py, zk_pipeline/features/*.py) computes, and
// writes the public result to the output segment, so that a Stone proof of
// this run -- and the Integrity fact registered from it -- says "these inputs
// give this allocation under this model".
//
// Program input (written into memory by the one hint of `main`; see
// zk_pipeline/cairo/__init__.py, `program_input`):
//   model_hash  felt, passed through to the output unchanged
//   inputs      flat list of integers, in this order:
//                 hour_unix,
//                 the N_PARAMS parameters in the order of `struct Params`,
//                 for jediswap then ekubo: prices[n], volumes[u], fees[u], tvl
//               where n = volatility_window_hours, u = utilization_window_hours.
//
// Output segment (OUTPUT_SIZE felts):
//   [0] inputs_commitment = h(...h(h(0, w[0]), w[1])..., len(w)), h the
//       Pedersen hash (hash_state.cairo; starknet-py's compute_hash_on_elements),
//       over the inputs packed three to a felt, w[k] = x[3k] + x[3k+1] * 2**63 +
//       x[3k+2] * 2**126 (zero-padded; injective since every x < 2**63, and the
//       parameters at the head fix the length). It binds every input -- series,
//       parameters and hour -- to the result. Packing divides the Pedersen
//       hashes by three (the layout has one Pedersen instance per 8 steps).
//   [1] model_hash: NOT computed here. It is SHA-256 of the model's canonical
//       JSON (zk_pipeline/risk/params.py), far too costly in Cairo. The program
//       passes it through; whoever checks the output recomputes it off chain
//       from the parameters (which the commitment binds) and compares.
//   then for jediswap, ekubo: volatility_annualized_bps, volatility_bps,
//       utilization_bps, apy_bps, liquidity_tier, age_days, risk
//   then jediswap_bps, ekubo_bps.
//
// Bounds. Every input is range-checked into [0, 2**63) (MAX_RAW_INPUT of
// features/fixed_point.py), prices and tvl into [1, 2**63), and the parameter
// constraints of ModelParams are asserted, so everything below is plain
// integer arithmetic that never wraps the field and every value that meets a
// range check (unsigned_div_rem's quotient and remainder, is_le's difference)
// is below 2**128:
//   * returns: floor((cur - prev) * 10**8 / prev) has a signed numerator; it
//     equals floor(cur * 10**8 / prev) - 10**8, an unsigned division of
//     cur * 10**8 < 2**90 by prev < 2**63 (see return_sums for its constraints,
//     the same as unsigned_div_rem's, which needs div <= PRIME // 2**128 ~ 2**123).
//   * |sum r| <= m * 10**8 < 2**40, sum r**2 <= m * 10**16 < 2**67 (m < 8760),
//     var_num = m * sum r**2 - (sum r)**2 <= m**2 * 10**16 < 2**80.
//   * the radicand var_num * 8760 * 10**8 < 2**119 -- the biggest intermediate
//     of the volatility. `sqrt` (common/math.cairo) accepts values below 2**250:
//     it range-checks root < 2**125 and value - root**2 and
//     (root + 1)**2 - 1 - value (both <= 2 * root < 2**61 here), which pins the
//     floor root with no wrap-around.
//   * volumes and fees sums < 8760 * 2**63 < 2**77; utilization's numerator
//     < 2**91, apy < 2**98; allocation scores apy * 10**4 // (risk + 1) < 2**112;
//     their sum (a divisor) < 2**113 <= 2**123; score * 10**4 < 2**126.
//   * comparisons (is_le) only ever see differences of values below 2**113.
//
// Size (zk_pipeline/cairo/profile.py measures it; docs/stone.md has the table). Model v1 (720-hour
// window) executes 53,462 steps, 34.5k of them in return_sums and 12.5k in check_and_pack, with 522
// Pedersen and ~7.5k range-check instances. A proof-mode run pads to a power of two that also leaves
// a spare range-check cell for every 16-bit value between the smallest and the largest limb checked:
// random 63-bit values span 0..65535, which the `small` layout (13 spare cells per step) covers in
// 2**13 steps, the `recursive` one (1 per step) only in 2**17. Model v1 needs 2**16 steps in `small`
// (8 steps per range-check instance); a 168-hour window fits 2**14.
%builtins output pedersen range_check ecdsa

from starkware.cairo.common.alloc import alloc
from starkware.cairo.common.cairo_builtins import HashBuiltin, SignatureBuiltin
from starkware.cairo.common.hash_state import hash_finalize, hash_init, hash_update
from starkware.cairo.common.math import assert_le, assert_nn_le, sqrt, unsigned_div_rem
from starkware.cairo.common.math_cmp import is_le
from starkware.cairo.common.registers import get_fp_and_pc
from starkware.cairo.common.serialize import serialize_word

const BPS = 10000;
const RETURN_SCALE = 10 ** 8;
const HOURS_PER_YEAR = 8760;
const ANNUALIZE_BPS2 = HOURS_PER_YEAR * 10 ** 8;
const PACK_SHIFT = 2 ** 63;
// x + RC_UPPER_SHIFT < 2**128 (a range-check cell) exactly when x < 2**63, for x < 2**128.
const RC_UPPER_SHIFT = 2 ** 128 - 2 ** 63;
const SECONDS_PER_DAY = 86400;
const DAYS_PER_YEAR = 365;
const N_PARAMS = Params.SIZE;
const OUTPUT_SIZE = 2 + 2 * ProtocolResult.SIZE + 2;

// Model parameters, in the order they appear in the program input.
struct Params {
    volatility_window_hours: felt,
    utilization_window_hours: felt,
    weight_den: felt,
    utilization_weight: felt,
    volatility_weight: felt,
    audit_num: felt,
    audit_den: felt,
    age_cap_days: felt,
    age_weight: felt,
    tier_threshold0: felt,
    tier_threshold1: felt,
    tier_threshold2: felt,
    tier_risk0: felt,
    tier_risk1: felt,
    tier_risk2: felt,
    tier_risk3: felt,
    risk_min: felt,
    risk_max: felt,
    max_single_bps: felt,
    min_single_bps: felt,
    jediswap_audit_score: felt,
    jediswap_launch_unix: felt,
    ekubo_audit_score: felt,
    ekubo_launch_unix: felt,
}

// What the output says about one protocol, in output order.
struct ProtocolResult {
    volatility_annualized_bps: felt,
    volatility_bps: felt,
    utilization_bps: felt,
    apy_bps: felt,
    liquidity_tier: felt,
    age_days: felt,
    risk: felt,
}

func min{range_check_ptr}(a, b) -> felt {
    let a_le_b = is_le(a, b);
    if (a_le_b == 1) {
        return a;
    }
    return b;
}

func max{range_check_ptr}(a, b) -> felt {
    let a_le_b = is_le(a, b);
    if (a_le_b == 1) {
        return b;
    }
    return a;
}

// Python's `lo if x < lo else hi if x > hi else x` (callers ensure lo <= hi).
func clamp{range_check_ptr}(x, lo, hi) -> felt {
    let above_lo = max(x, lo);
    return min(above_lo, hi);
}

// Range-checks the inputs into [0, 2**63) three at a time, and packs each three into one felt
// x0 + x1 * 2**63 + x2 * 2**126 (injective given the bounds) for the commitment: a third of the
// Pedersen hashes. Two range-check cells per input, written directly (no hint): x < 2**128, then
// x + 2**128 - 2**63 < 2**128 (no wrap: the sum is below 2**129), i.e. x < 2**63. Each input is read
// once into a temporary and reused by its checks and the packing: 24 steps per group, not 33.
func check_and_pack{range_check_ptr}(src: felt*, n_groups, dst: felt*) {
    if (n_groups == 0) {
        return ();
    }
    tempvar x0 = src[0];
    assert [range_check_ptr] = x0;
    assert [range_check_ptr + 1] = x0 + RC_UPPER_SHIFT;
    tempvar x1 = src[1];
    assert [range_check_ptr + 2] = x1;
    assert [range_check_ptr + 3] = x1 + RC_UPPER_SHIFT;
    tempvar x2 = src[2];
    assert [range_check_ptr + 4] = x2;
    assert [range_check_ptr + 5] = x2 + RC_UPPER_SHIFT;
    assert dst[0] = x0 + x1 * PACK_SHIFT + x2 * PACK_SHIFT * PACK_SHIFT;
    let range_check_ptr = range_check_ptr + 6;
    return check_and_pack(src + 3, n_groups - 1, dst + 1);
}

func assert_zeros(ptr: felt*, n) {
    if (n == 0) {
        return ();
    }
    assert ptr[0] = 0;
    return assert_zeros(ptr + 1, n - 1);
}

// The constraints of ModelParams.__post_init__, so that a proof also shows the parameters are valid.
func check_params{range_check_ptr}(p: Params*) {
    assert_le(3, p.volatility_window_hours);
    assert_le(1, p.utilization_window_hours);
    assert_le(p.utilization_window_hours, p.volatility_window_hours);
    assert_le(p.volatility_window_hours, HOURS_PER_YEAR);
    assert_le(p.risk_min, p.risk_max);
    assert_le(p.min_single_bps, BPS / 2);
    assert_le(BPS / 2, p.max_single_bps);
    assert_le(p.max_single_bps, BPS);
    assert_le(p.tier_threshold1, p.tier_threshold0);
    assert_le(p.tier_threshold2, p.tier_threshold1);
    assert_le(1, p.weight_den);
    assert_le(1, p.audit_den);
    assert_le(1, p.age_cap_days);
    assert_le(p.jediswap_audit_score, 100);
    assert_le(p.ekubo_audit_score, 100);
    return ();
}

func sum_felts(ptr: felt*, n, acc) -> felt {
    if (n == 0) {
        return acc;
    }
    return sum_felts(ptr + 1, n - 1, acc + ptr[0]);
}

// Sums of the capped hourly returns r_i and of their squares over n_returns returns:
// r = min(floor((cur - prev) * S / prev), S) = min(shifted, 2 * S) - S with
// shifted = floor(cur * S / prev) >= 0, so the signed floor division is an unsigned one.
// Written out rather than with unsigned_div_rem / is_le: this loop is most of the program's steps
// and range checks. Constraints (3 range checks per return):
//   cur * S = shifted * prev + rem with 0 <= rem and 0 <= prev - 1 - rem (so prev >= 1), and either
//   (flag = 0) 0 <= 2S - shifted, r = shifted - S, or (flag != 0) 0 <= shifted - 2S - 1, r = S.
// Each branch bounds shifted to (-2**128, 2**128) as a signed integer, and prev < 2**63, rem < 2**63,
// cur * S < 2**90, so the equation holds over the integers (|each side| < 2**192 << PRIME): with
// 0 <= rem < prev, shifted is the floor quotient, and a separate range check on it is not needed.
func return_sums{range_check_ptr}(prices: felt*, n_returns, sum_r, sum_r2) -> (sum_r: felt, sum_r2: felt) {
    alloc_locals;
    if (n_returns == 0) {
        return (sum_r=sum_r, sum_r2=sum_r2);
    }
    local prev = prices[0];
    local cur = prices[1];
    local shifted;
    local rem;
    local capped_flag;
    %{
        ids.shifted, ids.rem = divmod(ids.cur * ids.RETURN_SCALE, ids.prev)
        ids.capped_flag = 1 if ids.shifted > 2 * ids.RETURN_SCALE else 0
    %}
    assert [range_check_ptr] = rem;
    assert [range_check_ptr + 1] = prev - 1 - rem;
    assert cur * RETURN_SCALE = shifted * prev + rem;
    if (capped_flag == 0) {
        assert [range_check_ptr + 2] = 2 * RETURN_SCALE - shifted;
        tempvar r = shifted - RETURN_SCALE;
        let range_check_ptr = range_check_ptr + 3;
        return return_sums(prices + 1, n_returns - 1, sum_r + r, sum_r2 + r * r);
    }
    // Capped: r = S, so r**2 is a constant (each branch recurses itself: no join, no local for r).
    assert [range_check_ptr + 2] = shifted - 2 * RETURN_SCALE - 1;
    let range_check_ptr = range_check_ptr + 3;
    return return_sums(prices + 1, n_returns - 1, sum_r + RETURN_SCALE, sum_r2 + RETURN_SCALE * RETURN_SCALE);
}

// features/volatility.py: floor(isqrt(var_num * 8760 * 10**8) / (m * S)).
func volatility_annualized_bps{range_check_ptr}(prices: felt*, n_prices) -> felt {
    alloc_locals;
    local m = n_prices - 1;
    let (sum_r, sum_r2) = return_sums(prices, m, 0, 0);
    tempvar var_num = m * sum_r2 - sum_r * sum_r;
    let root = sqrt(var_num * ANNUALIZE_BPS2);
    let (vol, _) = unsigned_div_rem(root, m * RETURN_SCALE);
    return vol;
}

// risk/model.py liquidity_tier: 0 if tvl >= t0, 1 if >= t1, 2 if >= t2, else 3.
func liquidity_tier{range_check_ptr}(tvl, p: Params*) -> felt {
    let tier0 = is_le(p.tier_threshold0, tvl);
    if (tier0 == 1) {
        return 0;
    }
    let tier1 = is_le(p.tier_threshold1, tvl);
    if (tier1 == 1) {
        return 1;
    }
    let tier2 = is_le(p.tier_threshold2, tvl);
    if (tier2 == 1) {
        return 2;
    }
    return 3;
}

// max(0, floor((hour - launch) / 86400)).
func age_days{range_check_ptr}(hour, launch) -> felt {
    let launched = is_le(launch, hour);
    if (launched == 0) {
        return 0;
    }
    let (days, _) = unsigned_div_rem(hour - launch, SECONDS_PER_DAY);
    return days;
}

// (cap - age) * weight // cap while age < cap, else 0.
func age_term{range_check_ptr}(age, p: Params*) -> felt {
    let old = is_le(p.age_cap_days, age);
    if (old == 1) {
        return 0;
    }
    let (term, _) = unsigned_div_rem((p.age_cap_days - age) * p.age_weight, p.age_cap_days);
    return term;
}

// risk/model.py risk_terms: the sum of the floored terms, clamped to [risk_min, risk_max].
func risk{range_check_ptr}(util, vol, tier, audit_score, age, p: Params*) -> felt {
    alloc_locals;
    let (util_term, _) = unsigned_div_rem(util * p.utilization_weight, p.weight_den);
    let (vol_term, _) = unsigned_div_rem(vol * p.volatility_weight, p.weight_den);
    let tier_risks = cast(p, felt*) + Params.tier_risk0;
    local liquidity_term = tier_risks[tier];
    let (audit_term, _) = unsigned_div_rem((100 - audit_score) * p.audit_num, p.audit_den);
    let age_t = age_term(age, p);
    let raw = util_term + vol_term + liquidity_term + audit_term + age_t;
    return clamp(raw, p.risk_min, p.risk_max);
}

// risk/model.py protocol_risk for one protocol whose series starts at `series`.
func protocol_result{range_check_ptr}(
    series: felt*, hour, audit_score, launch, p: Params*, out: ProtocolResult*
) {
    alloc_locals;
    local n = p.volatility_window_hours;
    local u = p.utilization_window_hours;
    local volumes: felt* = series + n;
    local fees: felt* = volumes + u;
    local tvl = fees[u];
    // Prices 0..n-2 are divisors in return_sums, which proves them >= 1; the last one is not.
    assert_le(1, series[n - 1]);
    assert_le(1, tvl);

    let vol_ann = volatility_annualized_bps(series, n);
    assert out.volatility_annualized_bps = vol_ann;
    let vol = min(BPS, vol_ann);
    assert out.volatility_bps = vol;

    let volume_sum = sum_felts(volumes, u, 0);
    let (util_raw, _) = unsigned_div_rem(volume_sum * BPS, tvl);
    let util = min(BPS, util_raw);
    assert out.utilization_bps = util;
    let fees_sum = sum_felts(fees, u, 0);
    let (apy, _) = unsigned_div_rem(fees_sum * DAYS_PER_YEAR * BPS, tvl);
    assert out.apy_bps = apy;

    let tier = liquidity_tier(tvl, p);
    assert out.liquidity_tier = tier;
    let age = age_days(hour, launch);
    assert out.age_days = age;
    let r = risk(util, vol, tier, audit_score, age, p);
    assert out.risk = r;
    return ();
}

// risk/model.py allocate: the jediswap share in bps, before the ekubo complement.
func jediswap_bps{range_check_ptr}(jedi: ProtocolResult*, ekubo: ProtocolResult*, p: Params*) -> felt {
    alloc_locals;
    let (score_j, _) = unsigned_div_rem(jedi.apy_bps * BPS, jedi.risk + 1);
    let (score_e, _) = unsigned_div_rem(ekubo.apy_bps * BPS, ekubo.risk + 1);
    local total = score_j + score_e;
    local raw;
    if (total == 0) {
        raw = BPS / 2;
        tempvar range_check_ptr = range_check_ptr;
    } else {
        let (q, _) = unsigned_div_rem(score_j * BPS, total);
        raw = q;
        tempvar range_check_ptr = range_check_ptr;
    }
    let lo = max(p.min_single_bps, BPS - p.max_single_bps);
    let hi = min(p.max_single_bps, BPS - p.min_single_bps);
    return clamp(raw, lo, hi);
}

func write_result{output_ptr: felt*}(r: ProtocolResult*) {
    serialize_word(r.volatility_annualized_bps);
    serialize_word(r.volatility_bps);
    serialize_word(r.utilization_bps);
    serialize_word(r.apy_bps);
    serialize_word(r.liquidity_tier);
    serialize_word(r.age_days);
    serialize_word(r.risk);
    return ();
}

// Every builtin of the `small` layout, `ecdsa` unused: Integrity's strict memory verification wants the
// proof-mode entry stub to pass main exactly the layout's builtins.
func main{
    output_ptr: felt*, pedersen_ptr: HashBuiltin*, range_check_ptr, ecdsa_ptr: SignatureBuiltin*
}() {
    alloc_locals;
    local inputs: felt*;
    local n_inputs;
    local model_hash;
    %{
        flat = [int(x) for x in program_input["inputs"]]
        ids.inputs = segments.add()
        segments.write_arg(ids.inputs, flat + [0] * (-len(flat) % 3))
        ids.n_inputs = len(flat)
        ids.model_hash = int(program_input["model_hash"])
    %}
    // The prover chose n_inputs: it must be the length the parameters imply; the padding up to a
    // multiple of three must be zeros.
    let (n_groups, _) = unsigned_div_rem(n_inputs + 2, 3);
    assert_zeros(inputs + n_inputs, 3 * n_groups - n_inputs);
    let (packed: felt*) = alloc();
    check_and_pack(inputs, n_groups, packed);
    local hour = inputs[0];
    local p: Params* = cast(inputs + 1, Params*);
    check_params(p);
    local series_len = p.volatility_window_hours + 2 * p.utilization_window_hours + 1;
    assert n_inputs = 1 + N_PARAMS + 2 * series_len;
    local jedi_series: felt* = inputs + 1 + N_PARAMS;
    local ekubo_series: felt* = jedi_series + series_len;

    let (hash_state) = hash_init();
    let (hash_state) = hash_update{hash_ptr=pedersen_ptr}(hash_state, packed, n_groups);
    let (commitment) = hash_finalize{hash_ptr=pedersen_ptr}(hash_state);

    local jedi: ProtocolResult;
    local ekubo: ProtocolResult;
    let (__fp__, _) = get_fp_and_pc();
    protocol_result(jedi_series, hour, p.jediswap_audit_score, p.jediswap_launch_unix, p, &jedi);
    protocol_result(ekubo_series, hour, p.ekubo_audit_score, p.ekubo_launch_unix, p, &ekubo);
    let jedi_share = jediswap_bps(&jedi, &ekubo, p);

    serialize_word(commitment);
    serialize_word(model_hash);
    write_result(&jedi);
    write_result(&ekubo);
    serialize_word(jedi_share);
    serialize_word(BPS - jedi_share);
    return ();
}
