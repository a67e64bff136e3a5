/* Conv2d layers: the checks and switches every conv kernel shares; the
 * kernels themselves (forward, denominators and the relevance pass of every
 * built-in semiring) are in conv_f32.c and conv_f64.c. */
#include <stdatomic.h>

#include "lrp.h"

static int conv_axis_ok(ptrdiff_t in, ptrdiff_t out, ptrdiff_t k, ptrdiff_t stride,
                        ptrdiff_t pad, ptrdiff_t dil)
{
    if (in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0 || dil < 1)
        return 0;
    if (k > PTRDIFF_MAX / dil || in > PTRDIFF_MAX / 4 || pad > PTRDIFF_MAX / 4)
        return 0;
    const ptrdiff_t span = in + 2 * pad - dil * (k - 1) - 1;
    return span >= 0 && out == span / stride + 1;
}

/* whether Winograd's products take their one-pass form (conv_winograd.h) */
static atomic_int winograd_fusion = LRP_WINOGRAD_FUSION_AUTO;

lrp_status lrp_set_winograd_fusion(int mode)
{
    if (mode != LRP_WINOGRAD_FUSION_NEVER && mode != LRP_WINOGRAD_FUSION_AUTO &&
        mode != LRP_WINOGRAD_FUSION_ALWAYS)
        return LRP_ERR_ARG;
    atomic_store(&winograd_fusion, mode);
    return LRP_OK;
}

int lrp_winograd_fusion(void)
{
    return atomic_load(&winograd_fusion);
}

/* the share of nonzero inputs in the sparse max products' first pass
 * (conv_sparse_max.h) */
static atomic_int sparse_max_lead = 15;

lrp_status lrp_set_sparse_max_lead(int percent)
{
    if (percent < 0 || percent > 100)
        return LRP_ERR_ARG;
    atomic_store(&sparse_max_lead, percent);
    return LRP_OK;
}

int lrp_sparse_max_lead(void)
{
    return atomic_load(&sparse_max_lead);
}

lrp_status lrp_conv_check(const lrp_conv_shape *s)
{
    if (s->n < 0 || s->in_c < 1 || s->out_c < 1 || s->groups < 1 ||
        s->in_c % s->groups != 0 || s->out_c % s->groups != 0)
        return LRP_ERR_ARG;
    if (!conv_axis_ok(s->in_h, s->out_h, s->k_h, s->stride_h, s->pad_h, s->dil_h) ||
        !conv_axis_ok(s->in_w, s->out_w, s->k_w, s->stride_w, s->pad_w, s->dil_w))
        return LRP_ERR_ARG;
    return LRP_OK;
}
