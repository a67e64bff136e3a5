/* A layer's prepared weights, kept across calls (see lrp.h): rho(W) packed
 * for the products and Winograd's U (4 times the weights' size in float32,
 * 16/9 in float64), which a pass would otherwise rebuild on every call. */
#include <string.h>

#include "lrp.h"
#include "runtime/fork_safe_lock.h"
#include "runtime/memory.h"
#include "runtime/weight_cache.h"

/* Entries per cache at most: a pass of every built-in and ready-made
 * semiring with one rule per layer needs up to 8 in each layer's cache; a
 * sweep over many gammas would otherwise keep up to 4 times the weights per
 * value. Past it the passes prepare per call: entries are never evicted, so
 * none is freed while a pass reads it. */
#define CACHE_ENTRIES 10
#define CACHE_ASKED CACHE_ENTRIES

typedef struct lrp_cache_entry {
    lrp_cache_key key;
    void *data;
    struct lrp_cache_entry *next;
} lrp_cache_entry;

struct lrp_weight_cache {
    const void *weights;
    lrp_cache_entry *entries;
    size_t count, bytes;
    lrp_cache_key asked[CACHE_ASKED]; /* lrp_weights_worth_keeping's first asks */
    int asked_count;
};

/* One lock for every cache, held only to read or link a list: builds run
 * without it, since they poll the interrupt hook, whose Python signal
 * handler may start a pass on this very cache in this very thread. */
static lrp_fork_safe_lock cache_lock = {.mutex = PTHREAD_MUTEX_INITIALIZER};

lrp_weight_cache *lrp_weight_cache_new(const void *weights)
{
    lrp_weight_cache *cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    cache->weights = weights;
    return cache;
}

/* Called when nothing can use the cache any more (its capsule is gone). */
void lrp_weight_cache_free(lrp_weight_cache *cache)
{
    if (!cache)
        return;
    for (lrp_cache_entry *e = cache->entries, *next; e; e = next) {
        next = e->next;
        free(e->data);
        free(e);
    }
    free(cache);
}

size_t lrp_weight_cache_bytes(lrp_weight_cache *cache)
{
    lrp_fork_safe_lock_take(&cache_lock);
    const size_t bytes = cache->bytes;
    lrp_fork_safe_lock_release(&cache_lock);
    return bytes;
}

size_t lrp_weight_cache_entries(lrp_weight_cache *cache)
{
    lrp_fork_safe_lock_take(&cache_lock);
    const size_t count = cache->count;
    lrp_fork_safe_lock_release(&cache_lock);
    return count;
}

/* Field by field: a struct's padding bytes are not part of its value. */
static int same_key(const lrp_cache_key *a, const lrp_cache_key *b)
{
    return a->form == b->form && a->elem_size == b->elem_size && a->isa == b->isa &&
           a->kind == b->kind && a->gamma == b->gamma && a->flipped == b->flipped &&
           a->absolute == b->absolute && a->mr == b->mr && a->rows == b->rows &&
           a->cols == b->cols && a->groups == b->groups && a->taps == b->taps &&
           a->chunk == b->chunk && a->count == b->count;
}

/* The kept entry for key, or NULL; the caller holds cache_lock. */
static void *kept_entry(const lrp_weight_cache *cache, const lrp_cache_key *key)
{
    for (const lrp_cache_entry *e = cache->entries; e; e = e->next)
        if (same_key(&e->key, key))
            return e->data;
    return NULL;
}

/* Keeps `data` (built for key) unless an entry for key came first or the
 * cache is full; returns the entry that serves key now, or NULL when none
 * does and data stays the caller's. `entry` is fresh memory for the list. */
static void *keep_entry(lrp_weight_cache *cache, const lrp_cache_key *key, void *data,
                        lrp_cache_entry *entry)
{
    lrp_fork_safe_lock_take(&cache_lock);
    void *kept = kept_entry(cache, key);
    if (!kept && cache->count < CACHE_ENTRIES) {
        entry->key = *key;
        entry->data = data;
        entry->next = cache->entries;
        cache->entries = entry;
        cache->count++;
        cache->bytes += key->count * (size_t)key->elem_size;
        kept = data;
    }
    lrp_fork_safe_lock_release(&cache_lock);
    return kept;
}

int lrp_weights_worth_keeping(lrp_weight_cache *cache, const void *weights,
                              const lrp_cache_key *key)
{
    if (!cache || weights != cache->weights)
        return 0;
    lrp_fork_safe_lock_take(&cache_lock);
    int worth = kept_entry(cache, key) != NULL;
    if (!worth && cache->count < CACHE_ENTRIES) {
        for (int i = 0; i < cache->asked_count && !worth; i++)
            worth = same_key(&cache->asked[i], key);
        if (!worth && cache->asked_count < CACHE_ASKED)
            cache->asked[cache->asked_count++] = *key;
    }
    lrp_fork_safe_lock_release(&cache_lock);
    return worth;
}

const void *lrp_weights_prepared(lrp_weight_cache *cache, const void *weights,
                                 const lrp_cache_key *key, lrp_cache_build build,
                                 void *context, void **own, lrp_status *status)
{
    *own = NULL;
    *status = LRP_OK;
    const int cached = cache && weights == cache->weights;
    if (cached) {
        lrp_fork_safe_lock_take(&cache_lock);
        const void *kept = kept_entry(cache, key);
        const int full = cache->count >= CACHE_ENTRIES;
        lrp_fork_safe_lock_release(&cache_lock);
        if (kept)
            return kept;
        if (full)
            return lrp_weights_prepared(NULL, weights, key, build, context, own, status);
    }
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
    /* two passes may have built the same entry meanwhile (threads, or a
     * signal handler's pass inside this one): the first to finish keeps it */
    lrp_cache_entry *entry = cached ? malloc(sizeof *entry) : NULL;
    const void *kept = entry ? keep_entry(cache, key, data, entry) : NULL;
    if (kept == data)
        return data;
    free(entry);
    if (kept) {
        free(data);
        return kept;
    }
    *own = data;
    return data;
}
