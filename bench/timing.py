"""What the benchmarks share: medians of several calls timed in turns."""
import statistics
import time


def interleaved_medians(calls, repeat, pause=0.1):
    """{name: median seconds} of the calls in `calls` ({name: fn}), each run
    once untimed, then `repeat` rounds in which every call is timed once in
    turn: on a machine whose speed drifts, every call sees the same drift,
    so their ratios hold where back-to-back medians would not. `pause`
    seconds between calls let one library's idle threads stop spinning
    (PyTorch's OpenMP workers do for a while) before the next is timed."""
    for fn in calls.values():
        fn()
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            time.sleep(pause)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
