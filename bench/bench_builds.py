"""Two builds of semiring_lrp against each other, pass by pass, in one run:
whether a change of the C core made any pass slower beyond the noise.

    python bench/bench_builds.py BEFORE_TREE AFTER_TREE [--threads 2] [--repeat 5]
                                 [--json out.json] [--quick] [--only SUBSTRING ...]

Each TREE is a checkout root whose semiring_lrp/ holds its built _core*.so
(e.g. `git worktree add /tmp/before main`, then build it in place). Two
builds cannot share a process (one module name), so each runs in a worker
process (bench/build_worker.py, PYTHONPATH=TREE) that the driver talks to
over pipes; while one worker runs a pass the other waits on its pipe, so the
two never compete for cores. Both build the same cases from fixed seeds and
the shipped MNIST test split, run each once untimed (weight caches), and
report a digest of its output: the "output" column tells whether the two
builds give the same bits.

Cases (float32 unless said; --threads threads in both):
  vgg16 b1 ...  VGG-16 with torchvision's random initialisation at 224x224,
                batch 1: real with the LRP overview's recipe, boolean and
                counting with the paper's thresholds (absolute), Viterbi, as
                bench/bench_speed.py runs them
  mlp b1000 / b1 / b3 ...  the shipped MNIST MLP, every semiring (boolean
                and counting at 1e-9, LRP-0), plus real in float64 at batch
                1000 and 1
  cnn b16 ...   the shipped MNIST CNN, every semiring
  strided b8 ...  a network that halves its size by 3x3 convolutions of
                stride 2 (no pools) at 64x64, batch 8, real and Viterbi
--quick keeps the MLP cases only; --only keeps the cases whose name holds
one of the given substrings.

Timing (the idea of bench/timing.py's paired_ratios, across two processes):
in each round, each case is timed in BEFORE twice in a row (b1, b2) and
once in AFTER (a), BEFORE first in every other measurement; the ratio
after/before is taken against the BEFORE run next to it in time, so that a
drift of the machine's speed falls on both. b2/b1, two runs of the same
build, gives the spread that noise alone makes: taking its widest
deviation from 1 either way as a factor f (the "+-" column), a case is
"slower" when its median ratio exceeds f, "faster" when it is below 1 / f,
else "within noise". The verdict is a screen: re-time a flagged case alone
(--only NAME) with more rounds before believing it. A pass shorter than
--min-time is timed as a loop of calls lasting at least that long (after
one untimed call, to bring its data back into the caches the other worker
used), and such cases get --short-pairs measurements per round, as their
timings jump more.

With random weights, the boolean and counting VGG-16 passes lose all
relevance at conv5_1 under the paper's thresholds (a RelevanceWarning, not
shown), as in bench_speed.py: the layers below carry zeros.

Time, with the defaults on 2 cores: each worker draws VGG-16's 138 M
weights (about 10 s, both at once; about 1 GB resident each) and runs
every case once untimed (VGG-16: 8 s), then each round times 12 VGG-16
passes (1-3 s each) and the short cases (about 10 s): 3 to 4 minutes in
all, estimated from single passes (one VGG-16 case with --repeat 1: 35 s;
--quick --repeat 1: 10 s).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKER = Path(__file__).resolve().with_name("build_worker.py")
# the workers' case groups: each case's name starts with one
GROUPS = ("vgg16", "mlp", "cnn", "strided")


class Worker:
    """A worker process on one tree, answering one JSON request per line."""

    def __init__(self, label, tree):
        self.label, self.tree = label, tree
        env = dict(os.environ, PYTHONPATH=str(tree),
                   # NumPy's BLAS threads could spin while the other worker times
                   OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, text=True, bufsize=1)

    def send(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def receive(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker ({self.tree}) stopped; "
                               "its error is printed above")
        return json.loads(line)

    def ask(self, **request):
        self.send(**request)
        return self.receive()

    def time(self, case, calls, samples):
        return self.ask(op="time", case=case, calls=calls, samples=samples)["seconds"]

    def close(self):
        if self.process.poll() is None:
            try:
                self.send(op="quit")
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def checked_tree(path):
    """The resolved checkout root, which must hold a built semiring_lrp."""
    tree = Path(path).resolve()
    package = tree / "semiring_lrp"
    if not (package / "__init__.py").is_file():
        sys.exit(f"{path}: no semiring_lrp/__init__.py; give a checkout root")
    if not list(package.glob("_core*.so")) and not list(package.glob("_core*.pyd")):
        sys.exit(f"{path}: semiring_lrp/ holds no built _core*.so; build it in place first "
                 "(python setup.py build_ext --inplace)")
    return tree


def check_imported(worker, info):
    """The worker imported the package and core of its own tree."""
    for key in ("package", "core"):
        if not Path(info[key]).resolve().is_relative_to(worker.tree):
            sys.exit(f"the {worker.label} worker imported {info[key]}, not the one in "
                     f"{worker.tree} (an installed copy shadows PYTHONPATH?)")


def needed_groups(args):
    """The case groups the workers must build (VGG-16 takes seconds and
    about 1 GB each): a --only substring naming a group, or lying within
    one's name, needs that group; any other needs them all."""
    if args.quick:
        return ["mlp"]
    if not args.only:
        return list(GROUPS)
    needed = set()
    for part in args.only:
        named = {g for g in GROUPS if g in part or part in g}
        needed |= named or set(GROUPS)
    return [g for g in GROUPS if g in needed]


def calls_per_sample(before, case, first_seconds, min_time):
    """Calls that one timed sample of `case` loops over: enough to last
    min_time, from a second call in BEFORE (the first built weight caches);
    1 without it when the first lasted 10 x min_time."""
    if first_seconds >= 10 * min_time:
        return 1
    steady = before.time(case, 1, 1)[0]
    return max(1, math.ceil(min_time / max(steady, 1e-9)))


def measure(before, after, case, calls, before_first):
    """One measurement: (after/before against the adjacent BEFORE run, b2/b1,
    BEFORE's two seconds, AFTER's seconds)."""
    if before_first:
        b1, b2 = before.time(case, calls, 2)
        (a,) = after.time(case, calls, 1)
        ratio = a / b2
    else:
        (a,) = after.time(case, calls, 1)
        b1, b2 = before.time(case, calls, 2)
        ratio = a / b1
    return ratio, b2 / b1, (b1, b2), a


def noise_band(noise):
    """The widest deviation from 1 that BEFORE against itself showed, either
    way (b2/b1 and b1/b2 are equally likely under noise alone): a factor >= 1."""
    return max(max(noise), 1 / min(noise))


def summary(name, plan, record):
    ratios, noise = record["ratios"], record["noise"]
    ratio, band = statistics.median(ratios), noise_band(noise)
    if ratio > band:
        verdict = "slower"
    elif ratio < 1 / band:
        verdict = "faster"
    else:
        verdict = "within noise"
    return {"case": name, "calls_per_sample": plan["calls"], "measurements": len(ratios),
            "before_seconds": statistics.median(record["before"]),
            "after_seconds": statistics.median(record["after"]),
            "ratio": ratio, "ratio_low": min(ratios), "ratio_high": max(ratios),
            "noise": statistics.median(noise), "noise_low": min(noise),
            "noise_high": max(noise), "noise_band": band, "verdict": verdict,
            "same_output": plan["same_output"], "ratios": ratios, "noise_ratios": noise}


def print_table(args, infos, rows, elapsed):
    for label, info in infos.items():
        print(f"{label}: {Path(info['package']).parent} ({info['isa']} kernels, "
              f"{info['threads']} threads, NumPy {info['numpy']})")
    print(f"{args.repeat} rounds (short passes: {args.short_pairs} measurements a round, each "
          f"a loop of at least {args.min_time} s); medians; noise: BEFORE's second run / its "
          f"first, range and the widest deviation either way; {elapsed:.0f} s in all")
    print(f"{'case':<30} {'before s':>9} {'after s':>9} {'after/bef':>9} {'range':>11} "
          f"{'noise':>11} {'+-':>5} {'output':>7}  verdict")
    for row in rows:
        print(f"{row['case']:<30} {row['before_seconds']:9.5f} {row['after_seconds']:9.5f} "
              f"{row['ratio']:9.3f} {row['ratio_low']:5.2f}-{row['ratio_high']:<5.2f} "
              f"{row['noise_low']:5.2f}-{row['noise_high']:<5.2f} "
              f"{100 * (row['noise_band'] - 1):4.0f}% "
              f"{'same' if row['same_output'] else 'DIFFERS':>7}  {row['verdict']}")
    slower = [row["case"] for row in rows if row["verdict"] == "slower"]
    print("slower beyond the noise: " + (", ".join(slower) if slower else "none"))


def run(args, before, after):
    start = time.perf_counter()
    groups = needed_groups(args)
    for worker in (before, after):  # both build their networks at once: untimed
        worker.send(op="setup", threads=args.threads, groups=groups)
    infos = {}
    for worker in (before, after):
        info = infos[worker.label] = worker.receive()
        check_imported(worker, info)
        for group, error in info["failed"].items():
            print(f"{worker.label}: no {group} cases ({error})", file=sys.stderr)
    built = set(infos["after"]["cases"])
    names = [name for name in infos["before"]["cases"] if name in built
             and (not args.only or any(part in name for part in args.only))]
    if not names:
        sys.exit("no case to time (both builds must build it; see --only)")
    if infos["before"]["isa"] != infos["after"]["isa"]:
        print("the two builds run different instruction sets: "
              f"{infos['before']['isa']} and {infos['after']['isa']}", file=sys.stderr)

    plans = {}
    for name in names:
        digests = {worker.label: worker.ask(op="warm", case=name) for worker in (before, after)}
        calls = calls_per_sample(before, name, digests["before"]["seconds"], args.min_time)
        plans[name] = {"calls": calls, "pairs": args.short_pairs if calls > 1 else 1,
                       "same_output": digests["before"]["digest"] == digests["after"]["digest"]}
    print(f"set up and warmed in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    records = {name: {"ratios": [], "noise": [], "before": [], "after": []} for name in names}
    for round_index in range(args.repeat):
        for name in names:
            plan, record = plans[name], records[name]
            for pair in range(plan["pairs"]):
                before_first = (round_index * plan["pairs"] + pair) % 2 == 0
                ratio, noise, bs, a = measure(before, after, name, plan["calls"], before_first)
                record["ratios"].append(ratio)
                record["noise"].append(noise)
                record["before"].extend(bs)
                record["after"].append(a)
        print(f"round {round_index + 1}/{args.repeat} done, {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    rows = [summary(name, plans[name], records[name]) for name in names]
    return infos, rows, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="checkout root of the build before the change")
    parser.add_argument("after", help="checkout root of the build after the change")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5, help="rounds over every case")
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds a timed sample of a short pass lasts at least")
    parser.add_argument("--short-pairs", type=int, default=3,
                        help="measurements per round of a pass shorter than --min-time")
    parser.add_argument("--quick", action="store_true", help="the MLP cases only")
    parser.add_argument("--only", nargs="+", metavar="SUBSTRING",
                        help="only the cases whose name holds one of these")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    for name in ("threads", "repeat", "short_pairs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.min_time > 0:
        parser.error("--min-time must be positive")
    trees = checked_tree(args.before), checked_tree(args.after)

    before, after = Worker("before", trees[0]), Worker("after", trees[1])
    try:
        infos, rows, elapsed = run(args, before, after)
    except RuntimeError as err:  # a worker stopped
        sys.exit(str(err))
    finally:
        before.close()
        after.close()
    print_table(args, infos, rows, elapsed)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "before": str(trees[0]), "after": str(trees[1]), "threads": args.threads,
            "repeat": args.repeat, "min_time": args.min_time, "short_pairs": args.short_pairs,
            "workers": infos, "seconds": elapsed, "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
