/* The array pool: large blocks of memory kept for reuse (see lrp.h). A
 * pass writes large fresh arrays (activations, denominators, relevance);
 * had the allocator just returned their memory to the kernel, each new page
 * would cost a page fault and the kernel's zeroing of it.
 *
 * Every block carries a header with its capacity, so that free and realloc
 * need no size from the caller. Blocks of at least POOL_LEAST bytes go to a
 * free list when freed, up to the limit held in all; an allocation takes
 * the smallest kept block that holds it without wasting more than a quarter.
 * The limit, unless a caller sets one, is an eighth of the memory the
 * process may use (lrp_array_pool_default_limit). */
#if defined(__linux__)
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#endif
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lrp.h"
#include "runtime/fork_safe_lock.h"

/* the smallest block kept: smaller ones cost few page faults, and the free
 * list stays short */
#define POOL_LEAST ((size_t)1 << 20)
#define POOL_HEADER 64 /* keeps the data as aligned as malloc's (16) and more */
#define POOL_MAGIC 0x6c72705f706f6f6cULL /* "lrp_pool": marks the blocks made here */
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct pool_block {
    unsigned long long magic;
    size_t capacity;
    struct pool_block *next; /* in the free list */
} pool_block;

/* pool_lock guards the three below; no allocator call is made under it */
static lrp_fork_safe_lock pool_lock = {.mutex = PTHREAD_MUTEX_INITIALIZER};
static pool_block *pool_free_list;
static size_t pool_held;
static size_t pool_limit;
/* 1 once pool_limit holds the default or a caller's limit */
static atomic_int pool_limit_chosen;

/* The number a cgroup's memory limit file holds, 0 where there is none
 * ("max", no file) or it is past what size_t counts. open and read, since
 * the pool's own callers may be inside an allocator. */
static size_t cgroup_limit(const char *path)
{
    const int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    char text[32];
    const ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    size_t value = 0;
    for (ssize_t i = 0; i < got && text[i] >= '0' && text[i] <= '9'; i++) {
        const size_t digit = (size_t)(text[i] - '0');
        if (value > (SIZE_MAX - digit) / 10)
            return 0;
        value = value * 10 + digit;
    }
    return value;
}

size_t lrp_usable_memory(void)
{
    size_t usable = 0;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (size_t)pages <= SIZE_MAX / (size_t)page)
        usable = (size_t)pages * (size_t)page;
#endif
    /* cgroup v2, then v1 (whose "no limit" is a number past any memory) */
    static const char *const limit_files[] = {"/sys/fs/cgroup/memory.max",
                                              "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof limit_files / sizeof limit_files[0]; i++) {
        const size_t limit = cgroup_limit(limit_files[i]);
        if (limit > 0 && (usable == 0 || limit < usable))
            usable = limit;
    }
    return usable;
}

size_t lrp_array_pool_default_limit(void)
{
    const size_t share = lrp_usable_memory() / LRP_ARRAY_POOL_DEFAULT_SHARE;
    return share > LRP_ARRAY_POOL_DEFAULT_FLOOR ? share : LRP_ARRAY_POOL_DEFAULT_FLOOR;
}

/* pool_limit the default, the first time the pool needs a limit (unless a
 * caller set one); the files are read outside the lock. */
static void pool_limit_choose(void)
{
    if (atomic_load_explicit(&pool_limit_chosen, memory_order_acquire))
        return;
    const size_t fallback = lrp_array_pool_default_limit();
    lrp_fork_safe_lock_take(&pool_lock);
    if (!atomic_load_explicit(&pool_limit_chosen, memory_order_relaxed)) {
        pool_limit = fallback;
        atomic_store_explicit(&pool_limit_chosen, 1, memory_order_release);
    }
    lrp_fork_safe_lock_release(&pool_lock);
}

static void *pool_data(pool_block *b)
{
    return (char *)b + POOL_HEADER;
}

static pool_block *pool_header(void *data)
{
    return (pool_block *)((char *)data - POOL_HEADER);
}

/* A kept block for `bytes`, or NULL. */
static pool_block *pool_take(size_t bytes)
{
    pool_block **best = NULL;
    lrp_fork_safe_lock_take(&pool_lock);
    for (pool_block **at = &pool_free_list; *at; at = &(*at)->next) {
        const size_t cap = (*at)->capacity;
        if (cap >= bytes && cap - bytes <= bytes / 4 && (!best || cap < (*best)->capacity))
            best = at;
    }
    pool_block *b = NULL;
    if (best) {
        b = *best;
        *best = b->next;
        pool_held -= b->capacity;
    }
    lrp_fork_safe_lock_release(&pool_lock);
    return b;
}

void *lrp_alloc_large(size_t bytes)
{
    void *p = NULL;
#if defined(MADV_HUGEPAGE)
    if (bytes >= LRP_HUGE_PAGES_LEAST) {
        if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
            return NULL;
        /* whole pages of the block only; a hint, so its failure is no error */
        const long page = sysconf(_SC_PAGESIZE);
        if (page > 0)
            (void)madvise(p, bytes / (size_t)page * (size_t)page, MADV_HUGEPAGE);
        return p;
    }
#endif
    return posix_memalign(&p, 64, bytes > 0 ? bytes : 1) == 0 ? p : NULL;
}

static pool_block *pool_block_alloc(size_t total, int zero)
{
    if (total < LRP_HUGE_PAGES_LEAST)
        return zero ? calloc(1, total) : malloc(total);
    pool_block *b = lrp_alloc_large(total);
    if (b && zero)
        memset(b, 0, total);
    return b;
}

static void *pool_fresh(size_t bytes, int zero)
{
    if (bytes > SIZE_MAX - POOL_HEADER)
        return NULL;
    pool_block *b = pool_block_alloc(POOL_HEADER + bytes, zero);
    if (!b)
        return NULL;
    b->magic = POOL_MAGIC;
    b->capacity = bytes;
    b->next = NULL;
    return pool_data(b);
}

void *lrp_array_pool_alloc(size_t bytes)
{
    pool_block *b = bytes >= POOL_LEAST ? pool_take(bytes) : NULL;
    return b ? pool_data(b) : pool_fresh(bytes, 0);
}

void *lrp_array_pool_calloc(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes))
        return NULL;
    pool_block *b = bytes >= POOL_LEAST ? pool_take(bytes) : NULL;
    if (!b) /* calloc's fresh pages come zeroed from the kernel */
        return pool_fresh(bytes, 1);
    memset(pool_data(b), 0, bytes);
    return pool_data(b);
}

void lrp_array_pool_free(void *data)
{
    if (!data)
        return;
    pool_block *b = pool_header(data);
    if (b->magic != POOL_MAGIC) /* not ours: a caller's bug, better leaked than freed */
        return;
    if (b->capacity >= POOL_LEAST) {
        pool_limit_choose();
        lrp_fork_safe_lock_take(&pool_lock);
        const int keep = b->capacity <= pool_limit && pool_held <= pool_limit - b->capacity;
        if (keep) {
            b->next = pool_free_list;
            pool_free_list = b;
            pool_held += b->capacity;
        }
        lrp_fork_safe_lock_release(&pool_lock);
        if (keep)
            return;
    }
    b->magic = 0;
    free(b);
}

void *lrp_array_pool_realloc(void *data, size_t bytes)
{
    if (!data)
        return lrp_array_pool_alloc(bytes);
    pool_block *b = pool_header(data);
    if (b->magic != POOL_MAGIC)
        return NULL;
    if (bytes <= b->capacity && bytes >= b->capacity / 2)
        return data;
    void *moved = lrp_array_pool_alloc(bytes);
    if (!moved)
        return NULL;
    memcpy(moved, data, bytes < b->capacity ? bytes : b->capacity);
    lrp_array_pool_free(data);
    return moved;
}

/* Frees kept blocks until at most `keep` bytes are held. */
static void pool_trim(size_t keep)
{
    pool_block *release = NULL;
    lrp_fork_safe_lock_take(&pool_lock);
    while (pool_free_list && pool_held > keep) {
        pool_block *b = pool_free_list;
        pool_free_list = b->next;
        pool_held -= b->capacity;
        b->next = release;
        release = b;
    }
    lrp_fork_safe_lock_release(&pool_lock);
    while (release) {
        pool_block *next = release->next;
        release->magic = 0;
        free(release);
        release = next;
    }
}

void lrp_array_pool_set_limit(size_t bytes)
{
    lrp_fork_safe_lock_take(&pool_lock);
    pool_limit = bytes;
    atomic_store_explicit(&pool_limit_chosen, 1, memory_order_release);
    lrp_fork_safe_lock_release(&pool_lock);
    pool_trim(bytes);
}

size_t lrp_array_pool_limit(void)
{
    pool_limit_choose();
    lrp_fork_safe_lock_take(&pool_lock);
    const size_t limit = pool_limit;
    lrp_fork_safe_lock_release(&pool_lock);
    return limit;
}

size_t lrp_array_pool_held(void)
{
    lrp_fork_safe_lock_take(&pool_lock);
    const size_t held = pool_held;
    lrp_fork_safe_lock_release(&pool_lock);
    return held;
}

void lrp_array_pool_clear(void)
{
    pool_trim(0);
}
