/* The cache of prepared weights (weight_cache.c), as kernels use it. */
#ifndef SEMIRING_LRP_RUNTIME_WEIGHT_CACHE_H
#define SEMIRING_LRP_RUNTIME_WEIGHT_CACHE_H

#include <stddef.h>
#include "lrp.h"

/* weight_cache.c: one prepared form of a layer's weights, by everything it
 * depends on but their values. */
typedef struct {
    int form;            /* LRP_FORM_* */
    int elem_size;       /* sizeof(T) */
    int isa;             /* the instruction set that built it (its roundings) */
    int kind;            /* lrp_rule_kind */
    double gamma;
    int flipped, absolute, mr;
    ptrdiff_t rows, cols, groups, taps;
    ptrdiff_t chunk;     /* the products' inner chunk its layout follows, or 0 */
    size_t count;        /* elements */
} lrp_cache_key;
#define LRP_FORM_PACKED_A 1 /* conv_products.h: rho(W) as the products' A */
#define LRP_FORM_WINOGRAD 2 /* conv_winograd.h: the p^2 U_xi (36 or 16) */
#define LRP_FORM_WINOGRAD_WIDE 3 /* conv_winograd.h: the p^2 U_xi^T of the wide form */
#define LRP_FORM_PACKED_LOG_A 4 /* conv_im2col.h: log|rho(W)| as max-plus products' A */
#define LRP_FORM_LOG_ABS 5 /* composed_dense_products.h: log|rho(W)| of a dense layer */
#define LRP_FORM_LARGEST_MAGNITUDE 6 /* composed_products.h: the largest |rho(w)| */
#define LRP_FORM_SPARSE_TRANSPOSED 7 /* dense_sparse.h: rho(W)^T of the sparse passes */
#define LRP_FORM_SPARSE_MAX 8 /* conv_sparse_max.h: |rho(W)| by blocks of lanes and chunks */
#define LRP_FORM_DENSE_PACKED_B 9 /* dense_products.h: rho(W) or rho(W)^T as the products' B */
typedef lrp_status (*lrp_cache_build)(void *context, void *data);
/* The prepared weights for key: the cache's entry, else built by
 * build(context, data) into fresh memory, which the cache keeps when it has
 * room and the weights are its array; otherwise that memory is handed back
 * in *own for the caller to free (NULL when the cache's entry serves). NULL
 * only when *status is not LRP_OK. No lock is held while build runs. */
const void *lrp_weights_prepared(lrp_weight_cache *cache, const void *weights,
                                 const lrp_cache_key *key, lrp_cache_build build,
                                 void *context, void **own, lrp_status *status);
/* Whether weights prepared for key that only a kept copy repays are worth
 * preparing: 1 when cache holds key's entry for weights, or has room for it
 * and was asked for key before (a one-off call never pays for the copy). */
int lrp_weights_worth_keeping(lrp_weight_cache *cache, const void *weights,
                              const lrp_cache_key *key);

#endif
