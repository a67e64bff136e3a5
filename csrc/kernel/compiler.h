/* Compiler hints the kernels share: forced inlining, loop pragmas, the rule
 * switch that makes a rule kind a compile-time constant. */
#ifndef SEMIRING_LRP_KERNEL_COMPILER_H
#define SEMIRING_LRP_KERNEL_COMPILER_H

#include "lrp.h"

#if defined(__GNUC__) || defined(__clang__)
#define LRP_INLINE inline __attribute__((always_inline))
#else
#define LRP_INLINE inline
#endif

/* On a function declared for other units of the extension only (the packed
 * products, the micro-kernel tables): no entry in the module's dynamic
 * symbol table, and calls within its own unit may inline it (a hidden
 * function cannot be interposed). */
#if defined(__GNUC__) || defined(__clang__)
#define LRP_HIDDEN __attribute__((visibility("hidden")))
#else
#define LRP_HIDDEN
#endif

/* Before a loop whose stores never feed its loads (rows of different
 * planes): the compiler cannot prove it through pointers read from a struct,
 * and without it leaves the loop scalar. */
#if defined(__clang__)
#define LRP_NO_ALIAS _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define LRP_NO_ALIAS _Pragma("GCC ivdep")
#else
#define LRP_NO_ALIAS
#endif

/* Before a loop over a short array of lanes (a constant trip count): GCC
 * would unroll it into scalars before its loop vectoriser ran, and its
 * straight-line vectoriser leaves a lane-wise max scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#define LRP_LANE_LOOP _Pragma("GCC unroll 1")
#else
#define LRP_LANE_LOOP
#endif

/* Before a loop over the rows of a micro-kernel's tile: unrolled in full,
 * its arrays of accumulators become registers. */
#if defined(__GNUC__) || defined(__clang__)
#define LRP_UNROLL_ROWS _Pragma("GCC unroll 16")
#else
#define LRP_UNROLL_ROWS
#endif

#endif
