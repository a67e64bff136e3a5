/* A layer's prepared weights, kept across calls (see lrp.h). A real pass of
 * VGG-16 at batch 1 had spent 8% of its time rebuilding them on every call:
 * rho(W) packed for the products and Winograd's U, 16/9 the weights' size. */
#include <pthread.h>
#include <string.h>

#include "lrp.h"
#include "lrp_internal.h"

typedef struct lrp_cache_entry {
    lrp_cache_key key;
    void *data;
    struct lrp_cache_entry *next;
} lrp_cache_entry;

struct lrp_weight_cache {
    const void *weights;
    pthread_mutex_t lock;
    lrp_cache_entry *entries;
    size_t count, bytes;
};

/* Entries per cache at most: a pass of every semiring with one rule per
 * layer needs up to 6 (VGG-16: 51 over 16 layers); a sweep over many gammas
 * would otherwise keep 16/9 of the weights per value. Past it the passes
 * prepare per call: entries are never evicted, so none is freed while a
 * pass reads it. */
#define CACHE_ENTRIES 8

lrp_weight_cache *lrp_weight_cache_new(const void *weights)
{
    lrp_weight_cache *cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    if (pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache);
        return NULL;
    }
    cache->weights = weights;
    return cache;
}

void lrp_weight_cache_free(lrp_weight_cache *cache)
{
    if (!cache)
        return;
    for (lrp_cache_entry *e = cache->entries, *next; e; e = next) {
        next = e->next;
        free(e->data);
        free(e);
    }
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

size_t lrp_weight_cache_bytes(lrp_weight_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    const size_t bytes = cache->bytes;
    pthread_mutex_unlock(&cache->lock);
    return bytes;
}

size_t lrp_weight_cache_entries(lrp_weight_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    const size_t count = cache->count;
    pthread_mutex_unlock(&cache->lock);
    return count;
}

/* Field by field: a struct's padding bytes are not part of its value. */
static int same_key(const lrp_cache_key *a, const lrp_cache_key *b)
{
    return a->form == b->form && a->elem_size == b->elem_size && a->isa == b->isa &&
           a->kind == b->kind && a->gamma == b->gamma && a->flipped == b->flipped &&
           a->absolute == b->absolute && a->mr == b->mr && a->rows == b->rows &&
           a->cols == b->cols && a->groups == b->groups && a->taps == b->taps &&
           a->count == b->count;
}

const void *lrp_weight_cache_get(lrp_weight_cache *cache, const void *weights,
                                 const lrp_cache_key *key, lrp_cache_build build,
                                 void *context, lrp_status *status)
{
    *status = LRP_OK;
    if (!cache || weights != cache->weights)
        return NULL;
    /* held while building: a second thread wanting the same entry waits for
     * it rather than building it twice; no pool task ever takes this lock */
    pthread_mutex_lock(&cache->lock);
    for (const lrp_cache_entry *e = cache->entries; e; e = e->next)
        if (same_key(&e->key, key)) {
            pthread_mutex_unlock(&cache->lock);
            return e->data;
        }
    if (cache->count >= CACHE_ENTRIES) {
        pthread_mutex_unlock(&cache->lock);
        return NULL;
    }
    lrp_cache_entry *entry = calloc(1, sizeof *entry);
    void *data = lrp_alloc_aligned(key->count, key->elem_size);
    if (!entry || !data) {
        /* short of memory for keeping it: the caller builds its own */
        free(entry);
        free(data);
        pthread_mutex_unlock(&cache->lock);
        return NULL;
    }
    *status = build(context, data);
    if (*status != LRP_OK) {
        free(entry);
        free(data);
        pthread_mutex_unlock(&cache->lock);
        return NULL;
    }
    entry->key = *key;
    entry->data = data;
    entry->next = cache->entries;
    cache->entries = entry;
    cache->count++;
    cache->bytes += key->count * (size_t)key->elem_size;
    pthread_mutex_unlock(&cache->lock);
    return data;
}

const void *lrp_weights_prepared(lrp_weight_cache *cache, const void *weights,
                                 const lrp_cache_key *key, lrp_cache_build build,
                                 void *context, void **own, lrp_status *status)
{
    *own = NULL;
    const void *kept = lrp_weight_cache_get(cache, weights, key, build, context, status);
    if (kept || *status != LRP_OK)
        return kept;
    void *data = lrp_alloc_aligned(key->count, (size_t)key->elem_size);
    if (!data) {
        *status = LRP_ERR_NOMEM;
        return NULL;
    }
    *status = build(context, data);
    if (*status != LRP_OK) {
        free(data);
        return NULL;
    }
    *own = data;
    return data;
}
