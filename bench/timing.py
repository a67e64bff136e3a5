"""What the benchmarks share: the median wall time of a call."""
import statistics
import time


def median_seconds(fn, repeat, warmup=False):
    """Median of `repeat` timed calls of fn(), after one untimed call if `warmup`."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
