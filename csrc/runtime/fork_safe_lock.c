/* Fork-safe locks (fork_safe_lock.h): each joins one list on its first
 * take, and the fork handlers installed once take every lock on the list
 * before a fork and release them after it, in the parent and in the child. */
#include "runtime/fork_safe_lock.h"

/* Guards the list; held by a fork from before its first lock to after the
 * last release, so that a lock joins either before a fork (which then takes
 * it) or after it (and nobody can hold it across the fork). */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static lrp_fork_safe_lock *locks;

static void before_fork(void)
{
    pthread_mutex_lock(&list_lock);
    for (lrp_fork_safe_lock *l = locks; l; l = l->next)
        pthread_mutex_lock(&l->mutex);
}

static void after_fork(void)
{
    for (lrp_fork_safe_lock *l = locks; l; l = l->next)
        pthread_mutex_unlock(&l->mutex);
    pthread_mutex_unlock(&list_lock);
}

static void install_fork_handlers(void) { pthread_atfork(before_fork, after_fork, after_fork); }

static void join_list(lrp_fork_safe_lock *lock)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_fork_handlers);
    pthread_mutex_lock(&list_lock);
    if (!atomic_load(&lock->known)) {
        lock->next = locks;
        locks = lock;
        atomic_store(&lock->known, 1);
    }
    pthread_mutex_unlock(&list_lock);
}

void lrp_fork_safe_lock_take(lrp_fork_safe_lock *lock)
{
    if (!atomic_load(&lock->known))
        join_list(lock);
    pthread_mutex_lock(&lock->mutex);
}

void lrp_fork_safe_lock_release(lrp_fork_safe_lock *lock) { pthread_mutex_unlock(&lock->mutex); }
