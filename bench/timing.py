"""What the benchmarks share: each pass timed right after its baseline."""
import statistics
import time


def paired_ratios(calls, baseline, repeat, pause=0.1):
    """Times the calls in `calls` ({name: fn}) against `calls[baseline]`.

    Every call runs once untimed; then, `repeat` rounds in which each other
    call is timed right after a run of the baseline, and its ratio taken
    against that run. On this machine the speed drifts by tens of percent
    within a minute; a pass and the baseline run beside it see the same
    speed, so their ratio holds where ratios of separate medians do not.
    `pause` seconds before every timed call let one library's idle threads
    stop spinning (PyTorch's OpenMP workers do for a while).

    Returns {name: (median seconds, median ratio, lowest ratio, highest
    ratio)}; the baseline's seconds are the median of all its runs."""
    def timed(fn):
        time.sleep(pause)
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    for fn in calls.values():
        fn()
    others = [name for name in calls if name != baseline]
    seconds = {name: [] for name in calls}
    ratios = {name: [] for name in others}
    for _ in range(repeat):
        for name in others:
            base = timed(calls[baseline])
            spent = timed(calls[name])
            seconds[baseline].append(base)
            seconds[name].append(spent)
            ratios[name].append(spent / base)
    ratios[baseline] = [1.0]
    return {name: (statistics.median(seconds[name]), statistics.median(ratios[name]),
                   min(ratios[name]), max(ratios[name])) for name in calls}
