/* A block of pairs' values for a composed semiring, in the network's dtype
 * T: from the numerators n_jk to the source value (the coefficient, or
 * Viterbi's), through the annotation steps, into the element type. Each
 * stage is one loop over the block with its choice made outside it. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_COMPOSED_VALUES /* once per instance */
#define LRP_INSTANCE_COMPOSED_VALUES

#include <math.h>
#include <stdint.h>
#include "lrp.h"
#include "composed/composed.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "runtime/parallel.h"

/* v[i] <- the source value of numerator v[i] over denominator
 * den[i * DEN_STEP] (DEN_STEP a constant: 0, one output's; 1, one per pair):
 * d = n / z (0 where z == 0) as the built-in semirings divide, or Viterbi's
 * |n| / (m + 1e-9). */
static LRP_INLINE void FN(composed_source)(lrp_source source, T *restrict v,
                                           const T *restrict den, const int DEN_STEP,
                                           ptrdiff_t count)
{
    if (source == LRP_SOURCE_VITERBI) {
        for (ptrdiff_t i = 0; i < count; i++)
            v[i] = FN(absolute)(v[i]) / (den[i * DEN_STEP] + (T)LRP_VITERBI_EPS);
    } else {
        for (ptrdiff_t i = 0; i < count; i++)
            v[i] = FN(coefficient)(v[i], den[i * DEN_STEP]);
    }
}

static LRP_INLINE T FN(composed_log)(T x)
{
    return sizeof(T) == sizeof(float) ? (T)logf((float)x) : (T)log((double)x);
}

/* One step but a threshold over the block, in T. */
static LRP_INLINE void FN(composed_step)(const lrp_step *step, T *restrict v, ptrdiff_t count)
{
    switch (step->kind) {
    case LRP_STEP_ABS:
        for (ptrdiff_t i = 0; i < count; i++)
            v[i] = FN(absolute)(v[i]);
        break;
    case LRP_STEP_LOG:
        for (ptrdiff_t i = 0; i < count; i++)
            v[i] = FN(composed_log)(v[i]);
        break;
    case LRP_STEP_CLIP: {
        const T lo = (T)step->lo, hi = (T)step->hi;
        for (ptrdiff_t i = 0; i < count; i++)
            v[i] = v[i] < lo ? lo : v[i] > hi ? hi : v[i];
        break;
    }
    default: /* the threshold: FN(composed_threshold) */
        break;
    }
}

/* out[i] = one where v[i] passes the threshold step, else zero, in
 * elem: the built-in boolean and counting semirings' verdict. */
static LRP_INLINE void FN(composed_threshold)(const lrp_semiring *sr, const lrp_step *step,
                                              const T *restrict v, void *restrict out,
                                              ptrdiff_t count)
{
    const T theta = (T)step->theta;
    const int absolute = step->absolute;
    switch (sr->elem) {
    case LRP_ELEM_F32: {
        const float one = (float)sr->one, zero = (float)sr->zero;
        float *o = out;
        for (ptrdiff_t i = 0; i < count; i++)
            o[i] = FN(passes)(v[i], theta, absolute) ? one : zero;
        break;
    }
    case LRP_ELEM_F64: {
        const double one = sr->one, zero = sr->zero;
        double *o = out;
        for (ptrdiff_t i = 0; i < count; i++)
            o[i] = FN(passes)(v[i], theta, absolute) ? one : zero;
        break;
    }
    case LRP_ELEM_I64: {
        const int64_t one = (int64_t)sr->one, zero = (int64_t)sr->zero;
        int64_t *o = out;
        for (ptrdiff_t i = 0; i < count; i++)
            o[i] = FN(passes)(v[i], theta, absolute) ? one : zero;
        break;
    }
    default: {
        const uint8_t one = sr->one != 0, zero = sr->zero != 0;
        uint8_t *o = out;
        for (ptrdiff_t i = 0; i < count; i++)
            o[i] = FN(passes)(v[i], theta, absolute) ? one : zero;
        break;
    }
    }
}

/* The block's values: source values v (overwritten) through sr's steps,
 * into out in sr->elem. A chain without a threshold has a float element
 * type (lrp_semiring_check): v converted. */
static LRP_INLINE void FN(composed_values)(const lrp_semiring *sr, T *restrict v,
                                           void *restrict out, ptrdiff_t count)
{
    for (int s = 0; s < sr->steps; s++) {
        if (sr->step[s].kind == LRP_STEP_THRESHOLD) {
            FN(composed_threshold)(sr, &sr->step[s], v, out, count);
            return;
        }
        FN(composed_step)(&sr->step[s], v, count);
    }
    if (sr->elem == LRP_ELEM_F32) {
        float *o = out;
        for (ptrdiff_t i = 0; i < count; i++)
            o[i] = (float)v[i];
    } else {
        double *o = out;
        for (ptrdiff_t i = 0; i < count; i++)
            o[i] = (double)v[i];
    }
}

/* A thread's buffers for one block: numerators and values in T, the
 * values in the element type, R_k per pair, and accumulators gathered from
 * strided inputs. */
typedef struct {
    T v[COMPOSED_BLOCK];
    lrp_elem_block val, r, acc;
} FN(composed_block);

/* One work item of a composed pass (a block of inputs, a plane) under
 * rule kind `kind`. */
typedef lrp_status (*FN(composed_item_fn))(const void *job, ptrdiff_t item, int kind);

/* Items [begin, end) of a job by item(job, i, kind), the job's rule kind
 * made a constant so each rule's numerator compiles alone (LRP-0 and
 * LRP-eps share one: they differ in the z the caller passes); stops
 * between items when the team is stopped. */
static LRP_INLINE lrp_status FN(composed_items)(const void *job, int kind, ptrdiff_t begin,
                                                ptrdiff_t end, int worker, lrp_team *team,
                                                FN(composed_item_fn) item)
{
    for (ptrdiff_t i = begin; i < end; i++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        lrp_status status;
        switch (kind) {
        case LRP_RULE_GAMMA:
            status = item(job, i, LRP_RULE_GAMMA);
            break;
        case LRP_RULE_ZBOX:
            status = item(job, i, LRP_RULE_ZBOX);
            break;
        default:
            status = item(job, i, LRP_RULE_ZERO);
            break;
        }
        if (status != LRP_OK)
            return status;
    }
    return LRP_OK;
}

#endif /* LRP_INSTANCE_COMPOSED_VALUES */
