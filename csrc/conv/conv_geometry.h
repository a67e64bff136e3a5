/* Which input a convolution tap reads for each output, axis by axis; the
 * flipped view of a layer, its unit-stride layer, and whether its passes
 * run as products. */
#ifndef SEMIRING_LRP_CONV_GEOMETRY_H
#define SEMIRING_LRP_CONV_GEOMETRY_H

#include <stddef.h>
#include <string.h>
#include "kernel/compiler.h"
#include "lrp.h"
#include "runtime/memory.h"

/* The outputs o in [*lo, *hi) of a convolution axis whose input
 * o * stride - pad + tap * dil lies inside [0, in_len). */
static inline void lrp_conv_range(ptrdiff_t out_len, ptrdiff_t in_len, ptrdiff_t stride,
                                  ptrdiff_t pad, ptrdiff_t dil, ptrdiff_t tap,
                                  ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t offset = tap * dil - pad; /* input = o * stride + offset */
    const ptrdiff_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    const ptrdiff_t last = in_len - 1 - offset < 0 ? -1 : (in_len - 1 - offset) / stride;
    *lo = first;
    *hi = last + 1 < out_len ? last + 1 : out_len;
    if (*hi < *lo)
        *hi = *lo;
}

/* The first index of input channel ci, or output channel co, of sample n. */
static inline ptrdiff_t lrp_conv_in_plane(const lrp_conv_shape *s, ptrdiff_t n, ptrdiff_t ci)
{
    return (n * s->in_c + ci) * s->in_h * s->in_w;
}

static inline ptrdiff_t lrp_conv_out_plane(const lrp_conv_shape *s, ptrdiff_t n, ptrdiff_t co)
{
    return (n * s->out_c + co) * s->out_h * s->out_w;
}

/* What lrp_conv_tap calls for each (input j, output k) pair: an LRP_INLINE
 * function, so that it is compiled into the pair loops, with context the
 * caller's state. */
typedef void (*lrp_conv_pair_visitor)(void *context, ptrdiff_t j, ptrdiff_t k);

/* Calls visit(context, j, k) for every (input j, output k) pair that kernel
 * tap (ky, kx) links between the input plane starting at j0 and the output
 * plane starting at k0; j and k are flat indices. Unit stride gets its own
 * loop so that the compiler sees contiguous rows; in a row every j and every
 * k is distinct, so visit may write at j or k (LRP_NO_ALIAS). */
static LRP_INLINE void lrp_conv_tap(const lrp_conv_shape *s, ptrdiff_t ky, ptrdiff_t kx,
                                    ptrdiff_t j0, ptrdiff_t k0, lrp_conv_pair_visitor visit,
                                    void *context)
{
    ptrdiff_t oy0, oy1, ox0, ox1;
    lrp_conv_range(s->out_h, s->in_h, s->stride_h, s->pad_h, s->dil_h, ky, &oy0, &oy1);
    lrp_conv_range(s->out_w, s->in_w, s->stride_w, s->pad_w, s->dil_w, kx, &ox0, &ox1);
    for (ptrdiff_t oy = oy0; oy < oy1; oy++) {
        const ptrdiff_t jrow = j0 + (oy * s->stride_h - s->pad_h + ky * s->dil_h) * s->in_w +
                               kx * s->dil_w - s->pad_w;
        const ptrdiff_t krow = k0 + oy * s->out_w;
        if (s->stride_w == 1) {
            LRP_NO_ALIAS
            for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                visit(context, jrow + ox, krow + ox);
        } else {
            for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                visit(context, jrow + ox * s->stride_w, krow + ox);
        }
    }
}

/* Whether a pass of this layer runs as a product: wide enough groups to fill
 * the micro-kernel's rows, and (for the transposed passes) unit stride. */
static inline int lrp_conv_uses_product(int kind, const lrp_conv_shape *s, int transposed)
{
    if (kind == LRP_RULE_ZBOX)
        return 0;
    if (!transposed)
        return s->out_c / s->groups >= 4;
    return s->stride_h == 1 && s->stride_w == 1 && s->in_c / s->groups >= 4;
}

/* Layer s at unit stride: the same inputs, kernel, padding and dilation,
 * with an output wherever a window fits; s's outputs are those at
 * multiples of its strides (oy stride_h, ox stride_w). */
static inline lrp_conv_shape lrp_conv_unit_stride(const lrp_conv_shape *s)
{
    lrp_conv_shape u = *s;
    u.stride_h = u.stride_w = 1;
    u.out_h = s->in_h + 2 * s->pad_h - s->dil_h * (s->k_h - 1);
    u.out_w = s->in_w + 2 * s->pad_w - s->dil_w * (s->k_w - 1);
    return u;
}

/* Whether a relevance pass of a strided layer s may go by its unit-stride
 * layer's over the values of s's outputs spread to that layer's outputs
 * (lrp_conv_spread): strides of at most 4 positions in all, since the
 * unit-stride layer has that many times the pairs. */
static inline int lrp_conv_spread_pays(const lrp_conv_shape *s)
{
    const ptrdiff_t area = s->stride_h * s->stride_w;
    return area > 1 && area <= 4;
}

/* Whether the real and Viterbi passes of s spread (lrp_conv_spread_pays):
 * not z^B, and 4 input channels per group at least, as the transposed
 * products need. */
static inline int lrp_conv_spreads(int kind, const lrp_conv_shape *s)
{
    return kind != LRP_RULE_ZBOX && lrp_conv_spread_pays(s) && s->in_c / s->groups >= 4;
}

/* The values of a strided layer s's outputs, `size` bytes each, at their
 * places among the outputs of its unit-stride layer u (lrp_conv_unit_stride),
 * zero bytes between: u's pass over them is s's where a zero output adds
 * nothing (a zero ratio or quotient, a relevance of 0). A scratch array for
 * lrp_scratch_free, NULL when out of memory. */
static inline void *lrp_conv_spread(const lrp_conv_shape *s, const lrp_conv_shape *u,
                                    const void *values, size_t size)
{
    size_t planes, count;
    if (lrp_checked_count(0, s->n, (size_t)s->out_c, &planes) != LRP_OK ||
        lrp_checked_count(0, u->out_h, (size_t)u->out_w, &count) != LRP_OK ||
        __builtin_mul_overflow(count, planes, &count))
        return NULL;
    char *spread = lrp_scratch_calloc(count, size);
    if (!spread)
        return NULL;
    const char *from = values;
    const size_t u_plane = (size_t)(u->out_h * u->out_w), plane = (size_t)(s->out_h * s->out_w);
    for (size_t p = 0; p < planes; p++)
        for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
            for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
                const size_t to = p * u_plane + (size_t)(oy * s->stride_h * u->out_w +
                                                         ox * s->stride_w);
                memcpy(spread + to * size, from + (p * plane + (size_t)(oy * s->out_w + ox)) * size,
                       size);
            }
    return spread;
}

/* The flipped convolution of a unit-stride layer s: from its output grid
 * back to its input grid. */
static inline lrp_conv_shape lrp_conv_transposed_view(const lrp_conv_shape *s)
{
    lrp_conv_shape v = *s;
    v.in_c = s->out_c, v.in_h = s->out_h, v.in_w = s->out_w;
    v.out_c = s->in_c, v.out_h = s->in_h, v.out_w = s->in_w;
    v.pad_h = s->dil_h * (s->k_h - 1) - s->pad_h;
    v.pad_w = s->dil_w * (s->k_w - 1) - s->pad_w;
    return v;
}

#endif
