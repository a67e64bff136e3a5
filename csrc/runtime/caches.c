/* The data caches of the CPU this process runs on (lrp.h), read once: from
 * Linux's sysfs, else glibc's sysconf, else CPUID (x86), else a default;
 * and the block sizes derived from them. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lrp.h"
#include "runtime/fork_safe_lock.h"
#include "runtime/isa_dispatch.h"

#if LRP_X86_DISPATCH
#include <cpuid.h>
#endif

/* A CPU of the last decade has at least these; used where nothing says. */
#define DEFAULT_L1D 32768
#define DEFAULT_L2 524288
#define DEFAULT_L3 8388608

/* "48K", "2048K", "260M" (sysfs's cache sizes): bytes, 0 if unreadable. */
static size_t parse_size(const char *text)
{
    unsigned long long value;
    char unit = 0;
    if (sscanf(text, "%llu%c", &value, &unit) < 1)
        return 0;
    if (unit == 'K')
        value *= 1024;
    else if (unit == 'M')
        value *= 1024 * 1024;
    else if (unit == 'G')
        value *= 1024ULL * 1024 * 1024;
    return (size_t)value;
}

/* The first line of a sysfs file into line (size bytes); 0 if unreadable. */
static int read_line(const char *path, char *line, size_t size)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    const int ok = fgets(line, (int)size, file) != NULL;
    fclose(file);
    return ok;
}

/* cpu0's caches as Linux lists them: index0, index1, ... each with its
 * level, type and size. */
static int from_sysfs(lrp_caches *c)
{
    for (int index = 0; index < 16; index++) {
        char path[96], level[16], type[32], size[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        if (!read_line(path, level, sizeof level))
            break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if (!read_line(path, type, sizeof type))
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (!read_line(path, size, sizeof size))
            continue;
        const size_t bytes = parse_size(size);
        if (strncmp(type, "Instruction", 11) == 0)
            continue;
        if (level[0] == '1')
            c->l1d = bytes;
        else if (level[0] == '2')
            c->l2 = bytes;
        else if (level[0] == '3')
            c->l3 = bytes;
    }
    return c->l1d > 0 && c->l2 > 0;
}

static int from_sysconf(lrp_caches *c)
{
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && \
    defined(_SC_LEVEL3_CACHE_SIZE)
    const long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    c->l1d = l1d > 0 ? (size_t)l1d : 0;
    c->l2 = l2 > 0 ? (size_t)l2 : 0;
    c->l3 = l3 > 0 ? (size_t)l3 : 0;
#else
    (void)c;
#endif
    return c->l1d > 0 && c->l2 > 0;
}

/* CPUID's deterministic cache parameters: leaf 4 (Intel) or 0x8000001D
 * (AMD), one subleaf per cache; size = ways * partitions * line * sets. */
static int from_cpuid(lrp_caches *c)
{
#if LRP_X86_DISPATCH
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
        return 0;
    const int amd = ebx == 0x68747541; /* "Auth"enticAMD */
    const unsigned leaf = amd ? 0x8000001D : 4;
    if (amd && (!__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) || eax < leaf))
        return 0;
    if (!amd && eax < leaf)
        return 0;
    for (unsigned sub = 0; sub < 16; sub++) {
        __cpuid_count(leaf, sub, eax, ebx, ecx, edx);
        const unsigned type = eax & 0x1f, level = (eax >> 5) & 0x7;
        if (type == 0)
            break;
        if (type == 2) /* instructions */
            continue;
        const size_t bytes = (size_t)((ebx >> 22) + 1) * (((ebx >> 12) & 0x3ff) + 1) *
                             ((ebx & 0xfff) + 1) * ((size_t)ecx + 1);
        if (level == 1)
            c->l1d = bytes;
        else if (level == 2)
            c->l2 = bytes;
        else if (level == 3)
            c->l3 = bytes;
    }
#else
    (void)c;
#endif
    return c->l1d > 0 && c->l2 > 0;
}

static lrp_caches detect(void)
{
    lrp_caches c = {0, 0, 0, "sysfs"};
    if (from_sysfs(&c))
        return c;
    c = (lrp_caches){0, 0, 0, "sysconf"};
    if (from_sysconf(&c))
        return c;
    c = (lrp_caches){0, 0, 0, "cpuid"};
    if (from_cpuid(&c))
        return c;
    return (lrp_caches){DEFAULT_L1D, DEFAULT_L2, DEFAULT_L3, "default"};
}

static lrp_fork_safe_lock caches_lock = {.mutex = PTHREAD_MUTEX_INITIALIZER};
static lrp_caches known;
static int known_set; /* under caches_lock */

lrp_caches lrp_cache_sizes(void)
{
    lrp_fork_safe_lock_take(&caches_lock);
    if (!known_set) {
        known = detect();
        known_set = 1;
    }
    const lrp_caches c = known;
    lrp_fork_safe_lock_release(&caches_lock);
    return c;
}

/* x rounded down to a multiple of step, within [least, most]. */
static ptrdiff_t block_within(size_t x, ptrdiff_t step, ptrdiff_t least, ptrdiff_t most)
{
    const ptrdiff_t v = x > (size_t)most ? most : (ptrdiff_t)x / step * step;
    return v < least ? least : v;
}

/* The caches the products' blocks fill at most: the sizes tuned on a 32 KiB
 * L1d and a 1 MiB L2; larger blocks gained nothing on a 48 KiB L1d and a
 * 2 MiB L2 (docs/performance.md); smaller caches get smaller blocks.
 * Winograd's one-pass form takes the whole L2: its items then keep V and M
 * of 32 tiles of 128 + 128 channels (float32) or 256 + 256 (float64). */
#define BLOCKED_L1D_MOST 32768
#define BLOCKED_L2_MOST 1048576

lrp_blocks lrp_block_sizes(void)
{
    const lrp_caches c = lrp_cache_sizes();
    const size_t l1d = c.l1d < BLOCKED_L1D_MOST ? c.l1d : BLOCKED_L1D_MOST;
    const size_t l2 = c.l2 < BLOCKED_L2_MOST ? c.l2 : BLOCKED_L2_MOST;
    lrp_blocks b;
    b.product_kc = block_within(l1d / 128, 16, 64, 1024);
    b.product_nb = block_within(l2 / (16 * (size_t)b.product_kc), 32, 64, 4096);
    b.winograd_one_pass_bytes = (double)(c.l2 < 262144 ? 262144 : c.l2);
    /* a wide block's V and M within an eighth of L3, where the layer's
     * input, output and U must stay beside them */
    b.winograd_wide_bytes = (double)c.l3 / 8;
    /* a chunk's 3x3 weights (chunk x 9 x 32 floats) within 3/4 of the whole
     * L1d, where a band reads them for every pixel */
    b.sparse_max_chunk = c.l1d / 4 * 3 >= 32 * 9 * 32 * 4 ? 32 : 16;
    return b;
}

void lrp_set_cache_sizes(size_t l1d, size_t l2, size_t l3)
{
    lrp_fork_safe_lock_take(&caches_lock);
    known = (lrp_caches){l1d, l2, l3, "set"};
    known_set = l1d > 0 && l2 > 0;
    lrp_fork_safe_lock_release(&caches_lock);
}
