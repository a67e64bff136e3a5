/* Tuning constants shared by more than one kernel family, each with the
 * reason for its value. Constants that only one family reads stay beside
 * its code. Changing one changes speed, never results, except
 * LRP_VITERBI_EPS, which is part of the Viterbi semiring's definition. */
#ifndef SEMIRING_LRP_KERNEL_TUNING_H
#define SEMIRING_LRP_KERNEL_TUNING_H

/* Multiply-adds (or pairs) per worker thread at least: waking a thread
 * costs tens of microseconds, which this much work hides. */
#define LRP_MIN_WORK_PER_THREAD 262144.0

/* Weight values packed (copied in a product's layout) per worker thread at
 * least: as for LRP_MIN_WORK_PER_THREAD, a thread's share must hide the
 * cost of waking it. */
#define LRP_MIN_PACK_PER_THREAD 65536.0

/* Viterbi's denominator m_k + LRP_VITERBI_EPS (docs/semantics.md): keeps
 * d = |n| / m finite where every |n_jk| of an output is 0. */
#define LRP_VITERBI_EPS 1e-9

/* Packed products (products/products.h), whose inner chunk and columns
 * per item come from the caches (lrp_block_sizes): bytes of B packed once
 * and shared by the row blocks of one product at most; past that, the copy
 * costs more memory than repacking costs time. */
#define PRODUCT_SHARED_B 67108864.0

#endif
