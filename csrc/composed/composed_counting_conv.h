/* Float counting and log-counting of unit-stride Conv2d layers by the
 * intervals tier (composed_counting.h, conv/conv_thresholds.h), written once
 * against T and FN(), included by composed_conv.h. */
#include "kernel/template.h"
#include "conv/conv_thresholds.h"
#ifndef LRP_INSTANCE_COMPOSED_COUNTING_CONV /* once per instance */
#define LRP_INSTANCE_COMPOSED_COUNTING_CONV

#include "lrp.h"
#include "composed/composed.h"
#include "composed/composed_counting.h"
#include "runtime/trace.h"

/* What FN(conv_threshold_run) takes besides R_out and the sums. */
typedef struct {
    const lrp_conv_shape *s;
    int kind, absolute;
    T gamma, theta;
    const T *a, *w, *low, *high, *z;
    int whole_sums; /* log-counting: FN(conv_whole)'s sums for the inputs that pass whole */
} FN(conv_counting_layer);

/* lrp_counting_sums_fn of a conv layer. */
static lrp_status FN(conv_counting_sums)(const void *context, const double *r, double *sums)
{
    const FN(conv_counting_layer) *l = context;
    return FN(conv_threshold_run)(l->kind, l->s, l->gamma, l->theta, l->absolute, l->a, l->w,
                                  l->low, l->high, l->z, NULL, NULL, r, l->whole_sums, NULL,
                                  sums);
}

/* Runs lrp_conv_relevance_composed's call by the intervals tier when sr's
 * form (lrp_composed_form_of) is float counting or log-counting, the layer has unit stride
 * (FN(conv_uses_thresholds)) and composed_counting.h gives the generic
 * tier's result: returns 1, *status the call's, and notes the tier
 * ("conv.composed.float_counting", "conv.composed.log_counting") if it
 * succeeded. Otherwise returns 0: the generic tier's call. */
static int FN(conv_composed_counting)(lrp_composed_form form, const lrp_conv_shape *s,
                                      const lrp_rule *rule, const lrp_semiring *sr,
                                      const T *a, const T *w, const T *low, const T *high,
                                      const T *den, const void *r_out, void *r_in,
                                      lrp_status *status)
{
    if ((form != COMPOSED_FLOAT_COUNTING && form != COMPOSED_LOG_COUNTING) ||
        !FN(conv_uses_thresholds)(s))
        return 0;
    const FN(conv_counting_layer) layer = {s, rule->kind, sr->step[0].absolute,
                                           (T)rule->gamma, (T)sr->step[0].theta,
                                           a, w, low, high, den, form == COMPOSED_LOG_COUNTING};
    const lrp_counting_call call = {s->n, s->out_c * s->out_h * s->out_w,
                                    s->in_c * s->in_h * s->in_w, r_out, r_in,
                                    FN(conv_counting_sums), &layer};
    int done;
    *status = lrp_composed_counting(form, &call, &done);
    if (done && *status == LRP_OK)
        lrp_trace_tier(form == COMPOSED_FLOAT_COUNTING ? "conv.composed.float_counting"
                                                       : "conv.composed.log_counting");
    return done;
}

#endif /* LRP_INSTANCE_COMPOSED_COUNTING_CONV */
