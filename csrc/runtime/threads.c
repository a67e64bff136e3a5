/* Work split over threads. A pool of workers, started on first use and
 * asleep between passes, runs the ranges of one caller at a time: waking a
 * sleeping worker costs a few microseconds where starting a thread costs
 * tens, and a batch of small layers makes many passes. A second caller
 * meanwhile (another Python thread) gets threads of its own, created for
 * its pass and joined before it returns. A forked child starts with an
 * empty pool. Needs nothing but POSIX threads.
 *
 * Items are cut into contiguous ranges, one per thread. Every kernel makes
 * each output the work of exactly one item, computed the same way whoever
 * runs it, so results never depend on the thread count. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "lrp.h"
#include "runtime/parallel.h"

static atomic_int thread_count = 1;

void lrp_set_num_threads(int n) { atomic_store(&thread_count, n < 1 ? 1 : n); }

int lrp_num_threads(void) { return atomic_load(&thread_count); }

struct lrp_team {
    const lrp_interrupt *interrupt;
    atomic_int stop;        /* every worker should return at its next check */
    atomic_int interrupted; /* ... because the hook asked to */
    int64_t next_hook_ns;   /* worker 0's clock: the hook's next turn */
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

typedef struct {
    lrp_team *team;
    lrp_task task;
    void *context;
    ptrdiff_t begin, end;
    int worker;
    lrp_status status;
} worker_job;

static void run_job(worker_job *job)
{
    job->status = job->begin < job->end
                      ? job->task(job->context, job->begin, job->end, job->worker, job->team)
                      : LRP_OK;
    if (job->status != LRP_OK)
        atomic_store(&job->team->stop, 1);
}

static void *thread_main(void *arg)
{
    run_job(arg);
    return NULL;
}

#define MAX_THREADS 256

static struct {
    pthread_mutex_t owner; /* held by the caller whose pass the pool runs */
    pthread_mutex_t lock;  /* guards the rest */
    pthread_cond_t wake, done;
    int workers;           /* started: indices 1 .. workers */
    unsigned long round;   /* one per pass the pool runs */
    int active, pending;   /* workers with a range this round; still running */
    worker_job *jobs;      /* this round's ranges, jobs[i] for worker i */
    unsigned long first_round[MAX_THREADS]; /* the round current when i started */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL, {0}};

static void *pool_worker(void *arg)
{
    const int index = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.lock);
    unsigned long seen = pool.first_round[index];
    for (;;) {
        while (pool.round == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.round;
        if (index > pool.active)
            continue;
        worker_job *job = &pool.jobs[index];
        pthread_mutex_unlock(&pool.lock);
        run_job(job);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* The child of a fork has only the thread that forked: no workers, and
 * locks in whatever state the parent's other threads left them. */
static void pool_after_fork(void)
{
    pthread_mutex_init(&pool.owner, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.workers = pool.active = pool.pending = 0;
}

static void pool_register_fork(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

/* Runs jobs[1 .. threads) on the pool's workers (starting more if needed)
 * and jobs[0] here; 0 if the pool is busy with another caller's pass. */
static int pool_run(worker_job *jobs, ptrdiff_t threads)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pool_register_fork);
    if (pthread_mutex_trylock(&pool.owner) != 0)
        return 0;
    pthread_mutex_lock(&pool.lock);
    while (pool.workers < threads - 1) {
        const int index = pool.workers + 1;
        pthread_t id;
        pthread_attr_t attr;
        pool.first_round[index] = pool.round;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int started = pthread_create(&id, &attr, pool_worker, (void *)(intptr_t)index) == 0;
        pthread_attr_destroy(&attr);
        if (!started)
            break;
        pool.workers = index;
    }
    const int helpers = pool.workers < threads - 1 ? pool.workers : (int)threads - 1;
    pool.jobs = jobs;
    pool.active = pool.pending = helpers;
    pool.round++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_job(&jobs[0]);
    /* ranges no worker could be started for */
    for (ptrdiff_t t = helpers + 1; t < threads; t++)
        run_job(&jobs[t]);
    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.owner);
    return 1;
}

/* Threads of this pass's own, for a caller that finds the pool busy. */
static void spawn_run(worker_job *jobs, ptrdiff_t threads)
{
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (ptrdiff_t t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, thread_main, &jobs[t]) == 0;
    run_job(&jobs[0]);
    /* a thread that could not start leaves its range to the caller */
    for (ptrdiff_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            run_job(&jobs[t]);
    }
}

lrp_status lrp_parallel_for(ptrdiff_t items, lrp_task task, void *context,
                            const lrp_interrupt *interrupt)
{
    return lrp_parallel_for_upto(items, lrp_num_threads(), task, context, interrupt);
}

lrp_status lrp_parallel_for_upto(ptrdiff_t items, ptrdiff_t threads, lrp_task task,
                                 void *context, const lrp_interrupt *interrupt)
{
    lrp_team team = {interrupt, 0, 0, 0};
    if (threads > lrp_num_threads())
        threads = lrp_num_threads();
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > items)
        threads = items > 0 ? items : 1;
    worker_job jobs[MAX_THREADS];
    for (ptrdiff_t t = 0; t < threads; t++) {
        /* floor(items * t / threads), without forming items * t */
        jobs[t] = (worker_job){&team, task, context, items / threads * t + (items % threads) * t / threads,
                               0, (int)t, LRP_OK};
    }
    for (ptrdiff_t t = 0; t < threads; t++)
        jobs[t].end = t + 1 < threads ? jobs[t + 1].begin : items;
    if (threads == 1)
        run_job(&jobs[0]);
    else if (!pool_run(jobs, threads))
        spawn_run(jobs, threads);
    if (atomic_load(&team.interrupted))
        return LRP_ERR_INTERRUPTED;
    /* the first real failure, not the stops it caused in other workers */
    for (ptrdiff_t t = 0; t < threads; t++)
        if (jobs[t].status != LRP_OK && jobs[t].status != LRP_ERR_INTERRUPTED)
            return jobs[t].status;
    return LRP_OK;
}
