/* Work split over threads. Kept worker threads, started on first use and
 * asleep between passes, run the pieces of one caller at a time: waking a
 * sleeping worker costs a few microseconds where starting a thread costs
 * tens, and a batch of small layers makes many passes. A worker that ends
 * its work watches for the next round, and a caller for its workers to
 * finish, a while before they sleep (SPIN_NS, CALLER_SPIN_NS): the
 * products of one pass follow each other within microseconds, and a
 * thread whose CPU went idle can take a millisecond to run again. For the
 * same reason a caller about to start a pass wakes the workers first
 * (lrp_wake_workers). A worker woken on its caller's CPU moves to another
 * (leave_callers_cpu). A second caller
 * meanwhile (another Python thread) gets threads of its own, created for
 * its pass and joined before it returns. A forked child starts with no kept
 * workers. Needs POSIX threads; on Linux, also its CPU affinity calls.
 *
 * Items are cut into contiguous pieces, a share of them per thread. A
 * thread works through its own share and then takes pieces from the end of
 * the others': with threads of equal speed each keeps to its share (and to
 * the data it touched in the pass's previous products), and a thread that
 * starts late or runs slow (its CPU taken by another process for a while)
 * costs the pass what it has claimed, not its whole share. Every kernel
 * makes each output the work of exactly one item, computed the same way
 * whoever runs it, so results never depend on the thread count or on who
 * claimed what. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getcpu, sched_setaffinity */
#include <sched.h>
#else
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "lrp.h"
#include "runtime/parallel.h"

static atomic_int thread_count = 1;

void lrp_set_num_threads(int n) { atomic_store(&thread_count, n < 1 ? 1 : n); }

int lrp_num_threads(void) { return atomic_load(&thread_count); }

/* Few enough that a task's setup per call stays small, enough that a late
 * thread's share can be taken over. */
static atomic_int pieces_per_thread = 4;

lrp_status lrp_set_pieces_per_thread(int n)
{
    if (n < 1 || n > LRP_MAX_PIECES_PER_THREAD)
        return LRP_ERR_ARG;
    atomic_store(&pieces_per_thread, n);
    return LRP_OK;
}

int lrp_pieces_per_thread(void) { return atomic_load(&pieces_per_thread); }

struct lrp_team {
    const lrp_interrupt *interrupt;
    atomic_int stop;        /* every worker should return at its next check */
    atomic_int interrupted; /* ... because the hook asked to */
    int64_t next_hook_ns;   /* worker 0's clock: the hook's next turn */
    ptrdiff_t items, pieces; /* [0, items) cut into `pieces` even pieces */
    ptrdiff_t threads;
    struct worker_job *jobs; /* jobs[t]: thread t's task and share of the pieces */
};

/* The hook takes the GIL, which a busy Python thread may hold for its whole
 * switch interval (5 ms): asked at most once per HOOK_INTERVAL_NS, it costs
 * nothing measurable, and tasks can poll as often as a few rows of work. */
#define HOOK_INTERVAL_NS 2000000

static int64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Only the calling thread runs the hook (it may take the GIL); the others
 * see its answer through the team's flag. */
int lrp_team_stop(lrp_team *team, int worker)
{
    if (worker == 0 && team->interrupt && !atomic_load(&team->stop)) {
        const int64_t now = monotonic_ns();
        if (now >= team->next_hook_ns) {
            team->next_hook_ns = now + HOOK_INTERVAL_NS;
            if (lrp_interrupted(team->interrupt)) {
                atomic_store(&team->interrupted, 1);
                atomic_store(&team->stop, 1);
            }
        }
    }
    return atomic_load(&team->stop);
}

/* A thread's share of the pieces, [first, end), in one word as
 * first << 32 | end: its owner claims from the front and the others from
 * the back, each by one compare-exchange. */
#define SHARE(first, end) ((unsigned long long)(first) << 32 | (unsigned long long)(end))

typedef struct worker_job {
    lrp_team *team;
    lrp_task task;
    void *context;
    int worker;
    lrp_status status;
    atomic_ullong share;
} worker_job;

/* floor(items * piece / pieces), without forming items * piece */
static ptrdiff_t piece_start(const lrp_team *team, ptrdiff_t piece)
{
    return team->items / team->pieces * piece + team->items % team->pieces * piece / team->pieces;
}

/* Pieces [*first, *end) taken from a share, 0 if it is empty. Its owner
 * takes the first half (rounded up) of what is left: its claims shrink as
 * the share does, so that few calls cover it and what another thread may
 * take over stays in whole pieces at its end. Another thread takes the
 * last piece: what a thread that started late or runs slow has not
 * reached. */
static int claim(atomic_ullong *share, int owner, ptrdiff_t *first, ptrdiff_t *end)
{
    unsigned long long now = atomic_load(share);
    for (;;) {
        const unsigned long long from = now >> 32, to = now & UINT32_MAX;
        if (from >= to)
            return 0;
        const unsigned long long cut = owner ? from + (to - from + 1) / 2 : to - 1;
        if (atomic_compare_exchange_weak(share, &now, owner ? SHARE(cut, to) : SHARE(from, cut))) {
            *first = (ptrdiff_t)(owner ? from : cut), *end = (ptrdiff_t)(owner ? cut : to);
            return 1;
        }
    }
}

/* From the thread's own share, else from the others' in turn. */
static int claim_pieces(worker_job *job, ptrdiff_t *first, ptrdiff_t *end)
{
    const lrp_team *team = job->team;
    if (claim(&job->share, 1, first, end))
        return 1;
    for (ptrdiff_t step = 1; step < team->threads; step++)
        if (claim(&team->jobs[(job->worker + step) % team->threads].share, 0, first, end))
            return 1;
    return 0;
}

/* Runs the task on the thread's own share, then on pieces of the others',
 * until none is left, the team is told to stop, or the task fails. */
static void run_job(worker_job *job)
{
    lrp_team *team = job->team;
    job->status = LRP_OK;
    ptrdiff_t first, end;
    while (!atomic_load_explicit(&team->stop, memory_order_relaxed) &&
           claim_pieces(job, &first, &end)) {
        job->status = job->task(job->context, piece_start(team, first), piece_start(team, end),
                                job->worker, team);
        if (job->status != LRP_OK) {
            atomic_store(&team->stop, 1);
            return;
        }
    }
}

static void *own_thread_main(void *arg)
{
    run_job(arg);
    return NULL;
}

/* Threads of one pass at most: its jobs and thread ids live on the
 * caller's stack. */
#define MAX_THREADS 256
_Static_assert((unsigned long long)MAX_THREADS * LRP_MAX_PIECES_PER_THREAD <= UINT32_MAX,
               "a share's ends fit 32 bits");

/* How long a worker watches for the next round before it sleeps, and a
 * caller for its workers to finish (longer: a caller woken from sleep is
 * put on its worker's CPU as readily as the other way round). Neither
 * watches when there are more threads than CPUs, where it would take a
 * CPU from a thread with work. */
#define SPIN_NS 1000000
#define CALLER_SPIN_NS 10000000

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Whether, within ns nanoseconds, *value (read without the lock) becomes
 * `target` (reach 1) or leaves it (reach 0). */
static int spin_until(const atomic_ulong *value, unsigned long target, int reach, int64_t ns)
{
    if (ns <= 0)
        return 0;
    const int64_t give_up = monotonic_ns() + ns;
    for (unsigned spins = 1;; spins++) {
        if ((atomic_load_explicit(value, memory_order_acquire) == target) == reach)
            return 1;
        cpu_relax();
        if (spins % 64 == 0 && monotonic_ns() >= give_up)
            return 0;
    }
}

/* The CPU the calling thread runs on, or -1 where the system does not say. */
static int current_cpu(void)
{
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Whether a round of `threads` threads has a CPU for each: the CPUs the
 * first caller may run on (as the default thread count counts them), else
 * those online; counted once. */
static int threads_fit(ptrdiff_t threads)
{
    static atomic_long counted;
    long cpus = atomic_load(&counted);
    if (cpus == 0) {
#if defined(__linux__)
        cpu_set_t mine;
        cpus = sched_getaffinity(0, sizeof mine, &mine) == 0 ? CPU_COUNT(&mine) : 0;
#endif
        if (cpus <= 0)
            cpus = sysconf(_SC_NPROCESSORS_ONLN);
        atomic_store(&counted, cpus > 0 ? cpus : 1);
    }
    return threads <= cpus;
}

/* The CPUs a kept worker may run on: those of the thread that started it. */
typedef struct {
#if defined(__linux__)
    cpu_set_t cpus;
#endif
    int known;
} worker_cpus;

static worker_cpus cpus_of_this_thread(void)
{
    worker_cpus mine = {.known = 0};
#if defined(__linux__)
    mine.known = sched_getaffinity(0, sizeof mine.cpus, &mine.cpus) == 0;
#endif
    return mine;
}

/* Binds worker `index`, found on its caller's CPU, to another of its CPUs
 * (the index-th other one, so that workers spread) and leaves it there.
 * Linux wakes a thread on the waker's CPU when the other CPUs look busy,
 * which a virtual CPU idle in its host does: the two would share one CPU
 * until the load balancer acts, and for a pass whose worker sleeps between
 * products that is every time it wakes. */
static void leave_callers_cpu(const worker_cpus *allowed, int caller_cpu, int index)
{
#if defined(__linux__)
    if (!allowed->known || caller_cpu < 0 || current_cpu() != caller_cpu)
        return;
    const int others = CPU_COUNT(&allowed->cpus) - (CPU_ISSET(caller_cpu, &allowed->cpus) != 0);
    if (others < 1)
        return;
    int pick = (index - 1) % others;
    cpu_set_t target;
    CPU_ZERO(&target);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (cpu != caller_cpu && CPU_ISSET(cpu, &allowed->cpus) && pick-- == 0) {
            CPU_SET(cpu, &target);
            break;
        }
    sched_setaffinity(0, sizeof target, &target); /* a refusal leaves it where it is */
#else
    (void)allowed;
    (void)caller_cpu;
    (void)index;
#endif
}

/* The kept workers, shared by every caller but serving one pass at a time. */
static struct {
    pthread_mutex_t owner; /* held by the caller whose pass the workers run */
    pthread_mutex_t lock;  /* guards the rest */
    pthread_cond_t wake, done;
    int started;           /* workers with indices 1 .. started exist */
    unsigned long round;   /* one per pass the workers run */
    int active, pending;   /* workers in this round; still running or yet to join */
    int joined, open;      /* workers that took their job; whether more may */
    atomic_ulong round_seen, pending_seen; /* round and pending, for threads that spin */
    int caller_cpu;        /* where this round's caller runs, or -1 */
    int64_t spin_ns;       /* how long this round's workers watch for the next */
    worker_job *jobs;      /* this round's jobs, jobs[i] for worker i */
    unsigned long first_round[MAX_THREADS]; /* the round current when i started */
} workers = {.owner = PTHREAD_MUTEX_INITIALIZER,
             .lock = PTHREAD_MUTEX_INITIALIZER,
             .wake = PTHREAD_COND_INITIALIZER,
             .done = PTHREAD_COND_INITIALIZER,
             .caller_cpu = -1};

/* 1 + the CPU worker i runs its job on, 0 while it has none. */
static atomic_int worker_cpu[MAX_THREADS];

static void *kept_worker_main(void *arg)
{
    const int index = (int)(intptr_t)arg;
    const worker_cpus allowed = cpus_of_this_thread();
    pthread_mutex_lock(&workers.lock);
    unsigned long seen = workers.first_round[index];
    int64_t spin_ns = workers.spin_ns;
    for (;;) {
        pthread_mutex_unlock(&workers.lock);
        spin_until(&workers.round_seen, seen, 0, spin_ns);
        pthread_mutex_lock(&workers.lock);
        if (workers.round == seen) {
            pthread_cond_wait(&workers.wake, &workers.lock);
            if (workers.round == seen)
                continue; /* woken ahead of a round (lrp_wake_workers): watch for it */
        }
        seen = workers.round;
        if (index > workers.active || !workers.open)
            continue;
        workers.joined++;
        worker_job *job = &workers.jobs[index];
        const int caller_cpu = workers.caller_cpu;
        pthread_mutex_unlock(&workers.lock);
        leave_callers_cpu(&allowed, caller_cpu, index);
        atomic_store(&worker_cpu[index], 1 + current_cpu());
        run_job(job);
        atomic_store(&worker_cpu[index], 0);
        pthread_mutex_lock(&workers.lock);
        spin_ns = workers.spin_ns;
        atomic_store_explicit(&workers.pending_seen, (unsigned long)--workers.pending,
                              memory_order_release);
        if (workers.pending == 0)
            pthread_cond_signal(&workers.done);
    }
    return NULL;
}

/* The child of a fork has only the thread that forked: no workers, and
 * locks in whatever state the parent's other threads left them. */
static void workers_after_fork(void)
{
    pthread_mutex_init(&workers.owner, NULL);
    pthread_mutex_init(&workers.lock, NULL);
    pthread_cond_init(&workers.wake, NULL);
    pthread_cond_init(&workers.done, NULL);
    workers.started = workers.active = workers.pending = workers.joined = workers.open = 0;
    atomic_store(&workers.pending_seen, 0);
    for (int i = 0; i < MAX_THREADS; i++)
        atomic_store(&worker_cpu[i], 0);
}

static void workers_register_fork(void) { pthread_atfork(NULL, NULL, workers_after_fork); }

void lrp_wake_workers(void)
{
    pthread_mutex_lock(&workers.lock);
    if (workers.started > 0)
        pthread_cond_broadcast(&workers.wake);
    pthread_mutex_unlock(&workers.lock);
}

/* The caller's wait for its `helpers` workers: it watches for the last to
 * finish for up to `ns`, unless one runs on its own CPU, whose time the
 * watching would take. */
static void caller_watches(int helpers, int64_t ns)
{
    if (ns <= 0)
        return;
    const int here = 1 + current_cpu();
    const int64_t give_up = monotonic_ns() + ns;
    for (unsigned spins = 1;; spins++) {
        if (atomic_load_explicit(&workers.pending_seen, memory_order_acquire) == 0)
            return;
        cpu_relax();
        if (spins % 64 != 0)
            continue;
        if (monotonic_ns() >= give_up)
            return;
        for (int i = 1; i <= helpers; i++)
            if (here > 0 && atomic_load(&worker_cpu[i]) == here)
                return;
    }
}

/* Runs jobs[1 .. threads) on the kept workers (starting more if needed) and
 * jobs[0] here; 0 if they are busy with another caller's pass. */
static int run_on_kept_workers(worker_job *jobs, ptrdiff_t threads)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, workers_register_fork);
    if (pthread_mutex_trylock(&workers.owner) != 0)
        return 0;
    pthread_mutex_lock(&workers.lock);
    while (workers.started < threads - 1) {
        const int index = workers.started + 1;
        pthread_t id;
        pthread_attr_t attr;
        workers.first_round[index] = workers.round;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int started =
            pthread_create(&id, &attr, kept_worker_main, (void *)(intptr_t)index) == 0;
        pthread_attr_destroy(&attr);
        if (!started)
            break;
        workers.started = index;
    }
    const int helpers = workers.started < threads - 1 ? workers.started : (int)threads - 1;
    workers.jobs = jobs;
    workers.active = workers.pending = helpers;
    workers.joined = 0;
    workers.open = 1;
    workers.caller_cpu = current_cpu();
    const int fit = threads_fit(threads);
    workers.spin_ns = fit ? SPIN_NS : 0;
    workers.round++;
    atomic_store_explicit(&workers.pending_seen, (unsigned long)helpers, memory_order_release);
    atomic_store_explicit(&workers.round_seen, workers.round, memory_order_release);
    pthread_cond_broadcast(&workers.wake);
    pthread_mutex_unlock(&workers.lock);
    run_job(&jobs[0]); /* and the pieces of workers that could not be started */
    /* every piece is claimed now (or the pass stopped): a worker that has
     * not joined yet, its CPU busy elsewhere, would find nothing to do, so
     * the round closes to it rather than wait for it */
    pthread_mutex_lock(&workers.lock);
    workers.open = 0;
    workers.pending -= helpers - workers.joined;
    atomic_store_explicit(&workers.pending_seen, (unsigned long)workers.pending,
                          memory_order_release);
    pthread_mutex_unlock(&workers.lock);
    caller_watches(helpers, fit ? CALLER_SPIN_NS : 0);
    pthread_mutex_lock(&workers.lock);
    while (workers.pending > 0)
        pthread_cond_wait(&workers.done, &workers.lock);
    pthread_mutex_unlock(&workers.lock);
    pthread_mutex_unlock(&workers.owner);
    return 1;
}

/* Threads of this pass's own, for a caller that finds the kept workers
 * busy. */
static void run_on_own_threads(worker_job *jobs, ptrdiff_t threads)
{
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (ptrdiff_t t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, own_thread_main, &jobs[t]) == 0;
    run_job(&jobs[0]); /* and the pieces of threads that could not start */
    for (ptrdiff_t t = 1; t < threads; t++)
        if (started[t])
            pthread_join(ids[t], NULL);
}

lrp_status lrp_parallel_for(ptrdiff_t items, lrp_task task, void *context,
                            const lrp_interrupt *interrupt)
{
    return lrp_parallel_for_upto(items, lrp_num_threads(), task, context, interrupt);
}

lrp_status lrp_parallel_for_upto(ptrdiff_t items, ptrdiff_t threads, lrp_task task,
                                 void *context, const lrp_interrupt *interrupt)
{
    if (items < 1)
        return LRP_OK;
    if (threads > lrp_num_threads())
        threads = lrp_num_threads();
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > items)
        threads = items;
    ptrdiff_t pieces = threads == 1 ? 1 : threads * lrp_pieces_per_thread();
    if (pieces > items)
        pieces = items;
    worker_job jobs[MAX_THREADS];
    lrp_team team = {
        .interrupt = interrupt, .items = items, .pieces = pieces, .threads = threads, .jobs = jobs};
    atomic_init(&team.stop, 0);
    atomic_init(&team.interrupted, 0);
    for (ptrdiff_t t = 0; t < threads; t++) {
        jobs[t] = (worker_job){.team = &team, .task = task, .context = context, .worker = (int)t};
        /* shares of floor(pieces * t / threads) on, as even as they can be */
        const ptrdiff_t from = pieces / threads * t + pieces % threads * t / threads;
        const ptrdiff_t to = pieces / threads * (t + 1) + pieces % threads * (t + 1) / threads;
        atomic_init(&jobs[t].share, SHARE(from, to));
    }
    if (threads == 1)
        run_job(&jobs[0]);
    else if (!run_on_kept_workers(jobs, threads))
        run_on_own_threads(jobs, threads);
    if (atomic_load(&team.interrupted))
        return LRP_ERR_INTERRUPTED;
    /* the first real failure, not the stops it caused in other workers */
    for (ptrdiff_t t = 0; t < threads; t++)
        if (jobs[t].status != LRP_OK && jobs[t].status != LRP_ERR_INTERRUPTED)
            return jobs[t].status;
    return LRP_OK;
}
