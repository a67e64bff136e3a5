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
#elif LRP_ARM_DISPATCH
    return LRP_ISA_NEON;
#endif
    return LRP_ISA_PORTABLE;
}

int lrp_isa_runs(lrp_isa isa)
{
    switch (isa) {
    case LRP_ISA_PORTABLE:
        return 1;
    case LRP_ISA_AVX2: /* every CPU with AVX-512 has AVX2 */
        return LRP_X86_DISPATCH && lrp_best_isa() != LRP_ISA_PORTABLE;
    case LRP_ISA_AVX512:
        return LRP_X86_DISPATCH && lrp_best_isa() == LRP_ISA_AVX512;
    case LRP_ISA_NEON:
        return LRP_ARM_DISPATCH;
    default:
        return 0;
    }
}

static atomic_int chosen = -1; /* -1: not chosen yet, use the best */

lrp_status lrp_set_isa(lrp_isa isa)
{
    if (!lrp_isa_runs(isa))
        return LRP_ERR_ARG;
    atomic_store(&chosen, (int)isa);
    return LRP_OK;
}

lrp_isa lrp_current_isa(void)
{
    int isa = atomic_load(&chosen);
    return isa < 0 ? lrp_best_isa() : (lrp_isa)isa;
}
