/* Which instruction set the kernels use: the best this CPU (and its OS)
 * supports, unless lrp_set_isa forced a lesser one (for tests and
 * comparisons: every path must give the portable path's answers). */
#include <stdatomic.h>

#include "lrp.h"
#include "runtime/isa_dispatch.h"

lrp_isa lrp_best_isa(void)
{
#if LRP_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma"))
        return LRP_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LRP_ISA_AVX2;
#endif
    return LRP_ISA_PORTABLE;
}

static atomic_int chosen = -1; /* -1: not chosen yet, use the best */

lrp_status lrp_set_isa(lrp_isa isa)
{
    if (isa < LRP_ISA_PORTABLE || isa > lrp_best_isa())
        return LRP_ERR_ARG;
    atomic_store(&chosen, (int)isa);
    return LRP_OK;
}

lrp_isa lrp_current_isa(void)
{
    int isa = atomic_load(&chosen);
    return isa < 0 ? lrp_best_isa() : (lrp_isa)isa;
}
