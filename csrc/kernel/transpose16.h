/* A 16 x 16 block of floats turned in AVX-512 registers, for the kernels
 * that read rows along memory and need them as columns (dense_few.h's
 * weight tiles, conv_sparse_max.h's channels per pixel). */
#ifndef SEMIRING_LRP_KERNEL_TRANSPOSE16_H
#define SEMIRING_LRP_KERNEL_TRANSPOSE16_H

#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"

#if LRP_X86_DISPATCH
#include <immintrin.h>

/* out[c] = column c of the rows r[0..16) (r is overwritten): pairs of rows
 * interleaved, then pairs of pairs, then 128-bit lanes twice. */
LRP_TARGET_AVX512 static LRP_INLINE void lrp_transpose16_f32(__m512 r[16], __m512 out[16])
{
    __m512 t[16];
    for (int l = 0; l < 16; l += 2) {
        t[l] = _mm512_unpacklo_ps(r[l], r[l + 1]);
        t[l + 1] = _mm512_unpackhi_ps(r[l], r[l + 1]);
    }
    for (int q = 0; q < 16; q += 4)
        for (int h = 0; h < 2; h++) {
            const __m512d a = _mm512_castps_pd(t[q + h]), b = _mm512_castps_pd(t[q + h + 2]);
            r[q + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[q + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    /* r[4g + c] (rows 4g..4g+3) holds column c in lane 0, c + 4 in lane 1,
     * c + 8 in lane 2, c + 12 in lane 3 */
    for (int g = 0; g < 4; g += 2)
        for (int c = 0; c < 4; c++) {
            t[4 * g + c] = _mm512_shuffle_f32x4(r[4 * g + c], r[4 * g + 4 + c], 0x88);
            t[4 * g + 4 + c] = _mm512_shuffle_f32x4(r[4 * g + c], r[4 * g + 4 + c], 0xDD);
        }
    /* t[c] (c < 8): rows 0-7, columns c and c + 8 (lanes 0-1, 2-3); t[8 + c]:
     * rows 8-15 likewise */
    for (int c = 0; c < 8; c++) {
        out[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        out[c + 8] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    }
}
#endif

#endif
