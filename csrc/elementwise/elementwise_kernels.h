/* Element-by-element kernels, written once against T and FN() (see
 * instantiate.h). */
#include "kernel/template.h"
#ifndef SEMIRING_LRP_ELEMENTWISE_KERNELS_H /* once per unit: what no dtype changes */
#define SEMIRING_LRP_ELEMENTWISE_KERNELS_H
/* Values per work item of the ReLU; lrp_parallel_chunks gives each thread
 * 4 items at least, so that its share outweighs waking it. */
enum { RELU_CHUNK = 65536 };
#endif

#ifndef LRP_INSTANCE_ELEMENTWISE_KERNELS /* once per instance */
#define LRP_INSTANCE_ELEMENTWISE_KERNELS

#include <stdatomic.h>
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
