/* Float counting and log-counting of Linear layers under a rule other than
 * z^B by the intervals tier (composed_counting.h, dense/dense_thresholds.h),
 * written once against T and FN(), included by composed_dense.h. */
#include "kernel/template.h"
#include "dense/dense_thresholds.h"
#ifndef LRP_INSTANCE_COMPOSED_COUNTING_DENSE /* once per instance */
#define LRP_INSTANCE_COMPOSED_COUNTING_DENSE

#include "lrp.h"
#include "composed/composed.h"
#include "composed/composed_counting.h"
#include "runtime/trace.h"

/* What FN(dense_threshold_run) takes besides R_out and the sums. */
typedef struct {
    const lrp_dense_shape *s;
    int kind, absolute;
    T gamma, theta;
    const T *a, *w, *z;
} FN(dense_counting_layer);

/* lrp_counting_sums_fn of a dense layer. */
static lrp_status FN(dense_counting_sums)(const void *context, const double *r, double *sums)
{
    const FN(dense_counting_layer) *l = context;
    return FN(dense_threshold_run)(l->kind, l->s, l->gamma, l->theta, l->absolute, l->a, l->w,
                                   l->z, NULL, NULL, r, NULL, sums);
}

/* Runs lrp_dense_relevance_composed's call by the intervals tier when sr's
 * form (lrp_composed_form_of) is float counting or log-counting, the rule
 * is not z^B and
 * composed_counting.h gives the generic tier's result: returns 1, *status
 * the call's, and notes the tier ("dense.composed.float_counting",
 * "dense.composed.log_counting") if it succeeded. Otherwise returns 0: the
 * generic tier's call. */
static int FN(dense_composed_counting)(lrp_composed_form form, const lrp_dense_shape *s,
                                       const lrp_rule *rule, const lrp_semiring *sr,
                                       const T *a, const T *w, const T *den,
                                       const void *r_out, void *r_in, lrp_status *status)
{
    if ((form != COMPOSED_FLOAT_COUNTING && form != COMPOSED_LOG_COUNTING) ||
        rule->kind == LRP_RULE_ZBOX)
        return 0;
    const FN(dense_counting_layer) layer = {s, rule->kind, sr->step[0].absolute,
                                            (T)rule->gamma, (T)sr->step[0].theta, a, w, den};
    const lrp_counting_call call = {s->n, s->out, s->in, r_out, r_in, FN(dense_counting_sums),
                                    &layer};
    int done;
    *status = lrp_composed_counting(form, &call, &done);
    if (done && *status == LRP_OK)
        lrp_trace_tier(form == COMPOSED_FLOAT_COUNTING ? "dense.composed.float_counting"
                                                       : "dense.composed.log_counting");
    return done;
}

#endif /* LRP_INSTANCE_COMPOSED_COUNTING_DENSE */
