/* Element-by-element kernels, written once against T and FN() (see
 * instantiate.h). */
#include "kernel/template.h"
#ifndef SEMIRING_LRP_ELEMENTWISE_KERNELS_H /* once per unit: what no dtype changes */
#define SEMIRING_LRP_ELEMENTWISE_KERNELS_H
/* Values per work item of the ReLU; lrp_parallel_chunks gives each thread
 * 4 items at least, so that its share outweighs waking it. */
enum { RELU_CHUNK = 65536 };
/* Values per sum of squares: a relative eps's sums have one fixed order
 * whatever the threads. */
enum { SQUARES_BLOCK = 65536 };
#endif

#ifndef LRP_INSTANCE_ELEMENTWISE_KERNELS /* once per instance */
#define LRP_INSTANCE_ELEMENTWISE_KERNELS

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"
#include "runtime/parallel.h"
#include "products/products.h"

typedef struct {
    const T *a;
    T *out;
    ptrdiff_t count;
} FN(relu_job);

/* compiled per instruction set: a comparison and a select per value, the
 * same on every set */
static LRP_INLINE lrp_status FN(relu_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                            int worker, lrp_team *team, int fused)
{
    const FN(relu_job) *job = context;
    (void)worker, (void)team, (void)fused;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, RELU_CHUNK, job->count, &first, &last);
    const T *restrict a = job->a;
    T *restrict out = job->out;
    for (ptrdiff_t i = first; i < last; i++)
        out[i] = a[i] > 0 || a[i] != a[i] ? a[i] : (T)0;
    return LRP_OK;
}
LRP_ISA_TASKS(relu_task, FN(relu_items))

void FN(lrp_relu)(ptrdiff_t count, const T *a, T *out)
{
    if (count <= 0)
        return;
    FN(relu_job) job = {a, out, count};
    lrp_parallel_chunks(count, RELU_CHUNK, LRP_ISA_TASK(relu_task), &job);
}

/* lrp_stabilise: out = z + eps sign(z) (sign(0) = +1) or z + eps, eps per
 * sample, or out = z where nothing is added (-0 stays -0), in chunks over
 * the threads, noting which of z and out hold a value that is not finite. */
typedef struct {
    const T *z;
    T *out;           /* may be z */
    const T *eps;     /* one per span of per_sample values */
    ptrdiff_t count, per_sample;
    int plus, shift;
    atomic_int not_finite; /* LRP_Z_NOT_FINITE | LRP_STABILISED_NOT_FINITE */
} FN(stabilise_job);

/* z[0, count) into out with one eps; x - x is 0 for finite x and NaN
 * otherwise. Each value is read before it is written, so out may be z. The
 * checks are OR reductions of integers, which vectorise as sums of floats
 * would not. */
static LRP_INLINE int FN(stabilise_span)(const T *z, T *out, ptrdiff_t count, T eps,
                                         const int plus, const int shift)
{
    int z_bad = 0, out_bad = 0;
    for (ptrdiff_t i = 0; i < count; i++) {
        const T v = z[i], s = shift ? v + (plus || v >= 0 ? eps : -eps) : v;
        z_bad |= v - v != 0;
        out_bad |= s - s != 0;
        out[i] = s;
    }
    return (z_bad ? LRP_Z_NOT_FINITE : 0) | (out_bad ? LRP_STABILISED_NOT_FINITE : 0);
}

/* FN(stabilise_span) with plus and shift constant in each copy, so that
 * its loop compiles to selects without a test per value */
static LRP_INLINE int FN(stabilise_any)(const T *z, T *out, ptrdiff_t count, T eps, int plus,
                                        int shift)
{
    if (!shift)
        return FN(stabilise_span)(z, out, count, eps, 0, 0);
    return plus ? FN(stabilise_span)(z, out, count, eps, 1, 1)
                : FN(stabilise_span)(z, out, count, eps, 0, 1);
}

static LRP_INLINE lrp_status FN(stabilise_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                                 int worker, lrp_team *team)
{
    FN(stabilise_job) *job = context;
    (void)worker, (void)team;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, RELU_CHUNK, job->count, &first, &last);
    int not_finite = 0;
    for (ptrdiff_t i = first; i < last;) {
        const ptrdiff_t sample = i / job->per_sample;
        const ptrdiff_t stop = (sample + 1) * job->per_sample < last
                                   ? (sample + 1) * job->per_sample : last;
        not_finite |= FN(stabilise_any)(job->z + i, job->out + i, stop - i, job->eps[sample],
                                        job->plus, job->shift);
        i = stop;
    }
    if (not_finite)
        atomic_fetch_or_explicit(&job->not_finite, not_finite, memory_order_relaxed);
    return LRP_OK;
}
LRP_ISA_TASKS_UNFUSED(stabilise_task, FN(stabilise_items))

typedef struct {
    const T *z;
    ptrdiff_t per_sample, blocks; /* blocks of SQUARES_BLOCK per sample */
    double *sums;                 /* one per block */
} FN(squares_job);

static lrp_status FN(squares_task)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                                   lrp_team *team)
{
    const FN(squares_job) *job = context;
    (void)worker, (void)team;
    for (ptrdiff_t item = begin; item < end; item++) {
        const ptrdiff_t sample = item / job->blocks, block = item % job->blocks;
        const ptrdiff_t first = block * SQUARES_BLOCK;
        const ptrdiff_t count = job->per_sample - first < SQUARES_BLOCK
                                    ? job->per_sample - first : SQUARES_BLOCK;
        const T *x = job->z + sample * job->per_sample + first;
        /* 8 lanes over runs of 128 values, the runs' sums added in turn:
         * no chain of rounded additions longer than 16 + 512 */
        double sum = 0;
        for (ptrdiff_t run = 0; run < count; run += 128) {
            const ptrdiff_t stop = count - run < 128 ? count : run + 128;
            double lanes[8] = {0};
            ptrdiff_t i = run;
            for (; i + 8 <= stop; i += 8)
                for (int l = 0; l < 8; l++)
                    lanes[l] += (double)x[i + l] * (double)x[i + l];
            for (; i < stop; i++)
                lanes[0] += (double)x[i] * (double)x[i];
            sum += ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                   + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
        job->sums[item] = sum;
    }
    return LRP_OK;
}

/* eps[n] = rule->eps * sqrt(mean of sample n's z^2), the sums in double in
 * blocks whose order no thread count changes */
static lrp_status FN(relative_eps)(const lrp_rule *rule, ptrdiff_t samples,
                                   ptrdiff_t per_sample, const T *z, T *eps)
{
    const ptrdiff_t blocks = (per_sample + SQUARES_BLOCK - 1) / SQUARES_BLOCK;
    double *sums = malloc((size_t)(samples * blocks) * sizeof *sums);
    if (!sums)
        return LRP_ERR_NOMEM;
    FN(squares_job) job = {z, per_sample, blocks, sums};
    lrp_status status = lrp_parallel_for_upto(samples * blocks, samples * per_sample
                                              / (4 * SQUARES_BLOCK), FN(squares_task), &job,
                                              NULL);
    for (ptrdiff_t n = 0; n < samples; n++) {
        double sum = 0;
        for (ptrdiff_t b = 0; b < blocks; b++)
            sum += sums[n * blocks + b];
        eps[n] = (T)(rule->eps * sqrt(sum / (double)per_sample));
    }
    free(sums);
    return status;
}

lrp_status FN(lrp_stabilise)(const lrp_rule *rule, int relative, ptrdiff_t samples,
                             ptrdiff_t per_sample, const T *z, T *out, int *not_finite)
{
    *not_finite = 0;
    if (samples < 0 || per_sample < 0 || (per_sample && samples > PTRDIFF_MAX / per_sample))
        return LRP_ERR_ARG;
    const ptrdiff_t count = samples * per_sample;
    if (count == 0)
        return LRP_OK;
    /* eps per sample where it is relative, else one eps over spans of whole chunks */
    const int per_sample_eps = relative && rule->eps != 0;
    T *eps = malloc((size_t)(per_sample_eps ? samples : 1) * sizeof *eps);
    if (!eps)
        return LRP_ERR_NOMEM;
    lrp_status status = LRP_OK;
    if (per_sample_eps)
        status = FN(relative_eps)(rule, samples, per_sample, z, eps);
    else
        eps[0] = (T)rule->eps;
    if (status == LRP_OK) {
        /* a relative eps adds even where it is 0, as the rule defines it */
        FN(stabilise_job) job = {z, out, eps, count, per_sample_eps ? per_sample : count,
                                 rule->eps_mode == LRP_EPS_PLUS, relative || rule->eps != 0, 0};
        lrp_parallel_chunks(count, RELU_CHUNK, LRP_ISA_TASK(stabilise_task), &job);
        *not_finite = atomic_load(&job.not_finite);
    }
    free(eps);
    return status;
}

typedef struct {
    const T *x;
    ptrdiff_t count;
    atomic_int found; /* a value that is not finite; items after it stop */
} FN(finite_job);

static lrp_status FN(finite_items)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                                   lrp_team *team)
{
    FN(finite_job) *job = context;
    (void)worker, (void)team;
    for (ptrdiff_t item = begin;
         item < end && !atomic_load_explicit(&job->found, memory_order_relaxed); item++) {
        ptrdiff_t first, last;
        lrp_chunk_span(item, item + 1, RELU_CHUNK, job->count, &first, &last);
        if (!FN(all_finite)(job->x + first, last - first))
            atomic_store_explicit(&job->found, 1, memory_order_relaxed);
    }
    return LRP_OK;
}

int FN(lrp_all_finite)(ptrdiff_t count, const T *x)
{
    if (count <= 0)
        return 1;
    FN(finite_job) job = {x, count, 0};
    lrp_parallel_chunks(count, RELU_CHUNK, FN(finite_items), &job);
    return !atomic_load(&job.found);
}

int FN(lrp_any_nonzero)(ptrdiff_t count, const T *x)
{
    /* blocks of 64, so the compiler can vectorise the test */
    ptrdiff_t i = 0;
    for (; i + 64 <= count; i += 64) {
        int any = 0;
        for (int l = 0; l < 64; l++)
            any |= x[i + l] != 0;
        if (any)
            return 1;
    }
    for (; i < count; i++)
        if (x[i] != 0)
            return 1;
    return 0;
}

#endif /* LRP_INSTANCE_ELEMENTWISE_KERNELS */
