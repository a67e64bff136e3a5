/* A mutex that every fork takes first and releases on both sides, so that
 * a child never inherits it held by a thread that does not exist there, nor
 * the data it guards halfway through a change (weight_cache.c,
 * array_pool.c). */
#ifndef SEMIRING_LRP_RUNTIME_FORK_SAFE_LOCK_H
#define SEMIRING_LRP_RUNTIME_FORK_SAFE_LOCK_H

#include <pthread.h>
#include <stdatomic.h>

/* A static object, initialised as {.mutex = PTHREAD_MUTEX_INITIALIZER}
 * (the rest zero). A thread that holds one takes no other lock: a fork takes them all,
 * one after another. */
typedef struct lrp_fork_safe_lock {
    pthread_mutex_t mutex;
    atomic_int known;                /* on the list that a fork takes */
    struct lrp_fork_safe_lock *next; /* on that list */
} lrp_fork_safe_lock;

void lrp_fork_safe_lock_take(lrp_fork_safe_lock *lock);
void lrp_fork_safe_lock_release(lrp_fork_safe_lock *lock);

#endif
