/* Compiling a task once per instruction set and calling the one in use
 * (isa.c chooses it). */
#ifndef SEMIRING_LRP_RUNTIME_ISA_DISPATCH_H
#define SEMIRING_LRP_RUNTIME_ISA_DISPATCH_H

#include "lrp.h"
#include "runtime/parallel.h"

/* x86-64 builds carry AVX2 and AVX-512 paths chosen at run time (isa.c). */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LRP_X86_DISPATCH 1
#else
#define LRP_X86_DISPATCH 0
#endif

/* aarch64 builds carry the NEON path beside the portable one: Advanced SIMD
 * is part of ARMv8-A, so it needs no target attribute and no probe. */
#if defined(__aarch64__) && defined(__ARM_NEON)
#define LRP_ARM_DISPATCH 1
#else
#define LRP_ARM_DISPATCH 0
#endif

/* Target attributes of the run-time instruction sets (isa.c). */
#define LRP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define LRP_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

/* In a kernel template (FN() defined): lrp_tasks FN(STEM_portable) and, on
 * x86, FN(STEM_avx2) and FN(STEM_avx512) or, on aarch64, FN(STEM_neon), each
 * returning
 * BODY(context, begin, end, worker, team, fused) with the always-inlined
 * BODY compiled for its instruction set; fused says whether that set's
 * micro-kernels fuse multiply-adds. LRP_ISA_TASK(STEM) is the task of the
 * instruction set in use. */
#define LRP_ISA_CLONE(NAME, TARGET, BODY, FUSED)                                           \
    TARGET static lrp_status FN(NAME)(void *context, ptrdiff_t begin, ptrdiff_t end,         \
                                      int worker, lrp_team *team)                            \
    {                                                                                        \
        return BODY(context, begin, end, worker, team, FUSED);                               \
    }
/* The same for a BODY(context, begin, end, worker, team) with no
 * multiply-add to fuse (comparisons, copies): LRP_ISA_TASK(STEM) as above. */
#define LRP_ISA_CLONE_UNFUSED(NAME, TARGET, BODY)                                          \
    TARGET static lrp_status FN(NAME)(void *context, ptrdiff_t begin, ptrdiff_t end,         \
                                      int worker, lrp_team *team)                            \
    {                                                                                        \
        return BODY(context, begin, end, worker, team);                                      \
    }
#if LRP_X86_DISPATCH
#define LRP_ISA_TASKS(STEM, BODY)                          \
    LRP_ISA_CLONE(STEM##_portable, , BODY, 0)              \
    LRP_ISA_CLONE(STEM##_avx2, LRP_TARGET_AVX2, BODY, 1)   \
    LRP_ISA_CLONE(STEM##_avx512, LRP_TARGET_AVX512, BODY, 1)
#define LRP_ISA_TASKS_UNFUSED(STEM, BODY)                          \
    LRP_ISA_CLONE_UNFUSED(STEM##_portable, , BODY)                 \
    LRP_ISA_CLONE_UNFUSED(STEM##_avx2, LRP_TARGET_AVX2, BODY)      \
    LRP_ISA_CLONE_UNFUSED(STEM##_avx512, LRP_TARGET_AVX512, BODY)
#define LRP_ISA_TASK(STEM)                                                 \
    (lrp_current_isa() == LRP_ISA_AVX512 ? FN(STEM##_avx512)               \
     : lrp_current_isa() == LRP_ISA_AVX2 ? FN(STEM##_avx2)                 \
                                         : FN(STEM##_portable))
#elif LRP_ARM_DISPATCH
/* The two clones differ only in fused, as NEON needs no target attribute. */
#define LRP_ISA_TASKS(STEM, BODY)             \
    LRP_ISA_CLONE(STEM##_portable, , BODY, 0) \
    LRP_ISA_CLONE(STEM##_neon, , BODY, 1)
#define LRP_ISA_TASKS_UNFUSED(STEM, BODY)              \
    LRP_ISA_CLONE_UNFUSED(STEM##_portable, , BODY)     \
    LRP_ISA_CLONE_UNFUSED(STEM##_neon, , BODY)
#define LRP_ISA_TASK(STEM) \
    (lrp_current_isa() == LRP_ISA_NEON ? FN(STEM##_neon) : FN(STEM##_portable))
#else
#define LRP_ISA_TASKS(STEM, BODY) LRP_ISA_CLONE(STEM##_portable, , BODY, 0)
#define LRP_ISA_TASKS_UNFUSED(STEM, BODY) LRP_ISA_CLONE_UNFUSED(STEM##_portable, , BODY)
#define LRP_ISA_TASK(STEM) FN(STEM##_portable)
#endif

/* As LRP_ISA_TASKS, for a BODY(context, begin, end, worker, team) that does
 * not ask whether the set fuses multiply-adds. */
#define LRP_ISA_PLAIN_CLONE(NAME, TARGET, BODY)                                          \
    TARGET static lrp_status FN(NAME)(void *context, ptrdiff_t begin, ptrdiff_t end,     \
                                      int worker, lrp_team *team)                        \
    {                                                                                    \
        return BODY(context, begin, end, worker, team);                                  \
    }
#if LRP_X86_DISPATCH
#define LRP_ISA_PLAIN_TASKS(STEM, BODY)                      \
    LRP_ISA_PLAIN_CLONE(STEM##_portable, , BODY)             \
    LRP_ISA_PLAIN_CLONE(STEM##_avx2, LRP_TARGET_AVX2, BODY)  \
    LRP_ISA_PLAIN_CLONE(STEM##_avx512, LRP_TARGET_AVX512, BODY)
#elif LRP_ARM_DISPATCH
#define LRP_ISA_PLAIN_TASKS(STEM, BODY)          \
    LRP_ISA_PLAIN_CLONE(STEM##_portable, , BODY) \
    LRP_ISA_PLAIN_CLONE(STEM##_neon, , BODY)
#else
#define LRP_ISA_PLAIN_TASKS(STEM, BODY) LRP_ISA_PLAIN_CLONE(STEM##_portable, , BODY)
#endif

#endif
