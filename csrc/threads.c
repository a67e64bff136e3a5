/* Work split over threads, one team per call: the threads are created when a
 * pass starts and joined before it returns, so the library keeps no thread
 * between calls (fork stays safe) and needs nothing but POSIX threads.
 *
 * Items are cut into contiguous ranges, one per thread. Every kernel makes
 * each output the work of exactly one item, computed the same way whoever
 * runs it, so results never depend on the thread count. */
#include <pthread.h>
#include <stdatomic.h>

#include "lrp.h"
#include "lrp_internal.h"

static atomic_int thread_count = 1;

void lrp_set_num_threads(int n) { atomic_store(&thread_count, n < 1 ? 1 : n); }

int lrp_num_threads(void) { return atomic_load(&thread_count); }

struct lrp_team {
    const lrp_interrupt *interrupt;
    atomic_int stop;        /* every worker should return at its next check */
    atomic_int interrupted; /* ... because the hook asked to */
};

/* Only the calling thread runs the hook (it may take the GIL); the others
 * see its answer through the team's flag. */
int lrp_team_stop(lrp_team *team, int worker)
{
    if (worker == 0 && !atomic_load(&team->stop) && lrp_interrupted(team->interrupt)) {
        atomic_store(&team->interrupted, 1);
        atomic_store(&team->stop, 1);
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

lrp_status lrp_parallel_for(ptrdiff_t items, lrp_task task, void *context,
                            const lrp_interrupt *interrupt)
{
    return lrp_parallel_for_upto(items, lrp_num_threads(), task, context, interrupt);
}

lrp_status lrp_parallel_for_upto(ptrdiff_t items, ptrdiff_t threads, lrp_task task,
                                 void *context, const lrp_interrupt *interrupt)
{
    lrp_team team = {interrupt, 0, 0};
    if (threads > lrp_num_threads())
        threads = lrp_num_threads();
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > items)
        threads = items > 0 ? items : 1;
    worker_job jobs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (ptrdiff_t t = 0; t < threads; t++) {
        /* floor(items * t / threads), without forming items * t */
        jobs[t] = (worker_job){&team, task, context, items / threads * t + (items % threads) * t / threads,
                               0, (int)t, LRP_OK};
    }
    for (ptrdiff_t t = 0; t < threads; t++)
        jobs[t].end = t + 1 < threads ? jobs[t + 1].begin : items;
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
    if (atomic_load(&team.interrupted))
        return LRP_ERR_INTERRUPTED;
    /* the first real failure, not the stops it caused in other workers */
    for (ptrdiff_t t = 0; t < threads; t++)
        if (jobs[t].status != LRP_OK && jobs[t].status != LRP_ERR_INTERRUPTED)
            return jobs[t].status;
    return LRP_OK;
}
