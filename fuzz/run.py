"""Runs every fuzz harness for a bounded time; exits non-zero on any finding.

    python fuzz/run.py                  # about 60 s in all (CI)
    python fuzz/run.py --time 600       # longer
    python fuzz/run.py --harness core,idx --time 120
    python fuzz/run.py --update-corpus  # keep new coverage in fuzz/corpus
    python fuzz/run.py --strict         # known library bugs fail too

Harnesses: core (fuzz_core.py: every _core entry point) and load, load_npz,
load_torch, idx, vgg16 (fuzz_files.py: the file readers). The total time
is split among them and run `--jobs` at a time (default: 2, or 1 on a
one-core machine); each gets libFuzzer's -max_total_time with its startup
allowed for, and is killed if it overruns, so the whole run ends within
about --time seconds.

Each harness reads its corpus fuzz/corpus/<harness>/ and writes the new
units it finds into <out>/<harness>/corpus (fuzz/out/ by default, ignored
by git), so a run leaves the work tree clean. --update-corpus then merges
the new units that add coverage into fuzz/corpus/<harness>/ (libFuzzer
-merge=1). A finding is saved as <out>/<harness>/crash-*; replay it with
    python fuzz/fuzz_core.py <out>/core/crash-...
    python fuzz/fuzz_files.py <harness> <out>/<harness>/crash-...

Known library bugs (common.KNOWN_ISSUES, each documented by a strict xfail
test in tests/test_fuzz_regressions.py) are counted, not failed, unless
--strict (FUZZ_STRICT=1) is given.

Needs atheris (pip install atheris) and the package installed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# name: (script, extra argument, max_len, weight of the time share)
HARNESSES = {
    "core": ("fuzz_core.py", None, 512, 3),
    "load": ("fuzz_files.py", "load", 8192, 1),
    "load_npz": ("fuzz_files.py", "load_npz", 512, 2),
    "load_torch": ("fuzz_files.py", "load_torch", 512, 1.5),
    "idx": ("fuzz_files.py", "idx", 4096, 1),
    "vgg16": ("fuzz_files.py", "vgg16", 8192, 1),
}
# time a harness needs before libFuzzer's clock starts, and torch's import
STARTUP = {"load_torch": 6.0, "load": 4.0}
DEFAULT_STARTUP = 2.0
GRACE = 15.0  # past its -max_total_time + this, a harness is killed


def command(name, seconds, corpus_dirs, out, extra=()):
    script, arg, max_len, _ = HARNESSES[name]
    cmd = [sys.executable, os.path.join(HERE, script)]
    if arg:
        cmd.append(arg)
    cmd += [f"-max_total_time={max(1, int(seconds))}", "-timeout=20", "-rss_limit_mb=4096",
            f"-max_len={max_len}", f"-artifact_prefix={os.path.join(out, name)}{os.sep}",
            "-print_final_stats=1", *extra, *corpus_dirs]
    return cmd


class Job:
    def __init__(self, name, seconds, out, strict):
        self.name = name
        self.seconds = seconds
        self.dir = os.path.join(out, name)
        self.new = os.path.join(self.dir, "corpus")
        self.seed = os.path.join(CORPUS, name)
        os.makedirs(self.new, exist_ok=True)
        os.makedirs(self.seed, exist_ok=True)
        self.log_path = os.path.join(self.dir, "log.txt")
        self.cmd = command(name, seconds, [self.new, self.seed], out)
        env = dict(os.environ)
        if strict:
            env["FUZZ_STRICT"] = "1"
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self.dir
        self.tmp = os.path.join(shm, f"semiring_lrp_fuzz_{os.getpid()}_{name}")
        env["FUZZ_TMPDIR"] = self.tmp
        self.log = open(self.log_path, "w")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.dir)
        self.killed = False

    def poll(self):
        if self.proc.poll() is None and time.monotonic() - self.start > (
                self.seconds + STARTUP.get(self.name, DEFAULT_STARTUP) + GRACE):
            self.proc.kill()
            self.killed = True
        return self.proc.poll()

    def finish(self):
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.elapsed = time.monotonic() - self.start
        with open(self.log_path, errors="replace") as f:
            self.text = f.read()


def count_files(folder):
    files = [os.path.join(folder, f) for f in os.listdir(folder)] if os.path.isdir(folder) else []
    files = [f for f in files if os.path.isfile(f)]
    return len(files), sum(os.path.getsize(f) for f in files)


def summary(job):
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", job.text)
    done = re.findall(r"Done (\d+) runs in (\d+) second", job.text)
    execs = int(runs[-1]) if runs else (int(done[-1][0]) if done else 0)
    fuzz_seconds = int(done[-1][1]) if done else None
    cov = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", job.text)
    known = {}
    for ident, count in re.findall(r"\[\w+\] known issue (\S+) hit (\d+) time", job.text):
        known[ident] = max(known.get(ident, 0), int(count))
    known = [", ".join(f"{k}>={v}" for k, v in sorted(known.items()))] if known else []
    seeds, seed_bytes = count_files(job.seed)
    new, new_bytes = count_files(job.new)
    crashes = [f for f in os.listdir(job.dir) if re.match(r"(crash|timeout|oom|leak)-", f)]
    ok = job.proc.returncode == 0 and not job.killed and not crashes
    status = "ok" if ok else ("KILLED (overran)" if job.killed else "FINDING")
    line = (f"{job.name:<10} {status:<8} {execs:>9} execs in {job.elapsed:5.1f} s"
            f" ({execs / max(job.elapsed, 1e-9):7.0f}/s)"
            f"  corpus {seeds} files {seed_bytes / 1024:.0f} KB + {new} new"
            + (f"  cov {cov[-1][0]} ft {cov[-1][1]}" if cov else "")
            + (f"  known: {known[-1]}" if known else ""))
    return ok, line, crashes, execs, fuzz_seconds


def merge_into_corpus(job):
    """Adds the new units that bring new coverage to fuzz/corpus/<harness>."""
    if not count_files(job.new)[0]:
        return 0
    before = count_files(job.seed)[0]
    cmd = command(job.name, 600, [job.seed, job.new], os.path.dirname(job.dir), ["-merge=1"])
    cmd = [c for c in cmd if not c.startswith("-max_total_time")]
    env = dict(os.environ, FUZZ_TMPDIR=job.tmp)
    try:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=job.dir,
                       timeout=900, check=False, env=env)
    finally:
        shutil.rmtree(job.tmp, ignore_errors=True)
    return count_files(job.seed)[0] - before


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", type=float, default=60.0,
                        help="total wall-clock seconds for all harnesses (default 60)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--harness", default=",".join(HARNESSES),
                        help="comma-separated subset of " + ",".join(HARNESSES))
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--update-corpus", action="store_true",
                        help="merge new coverage into fuzz/corpus/<harness>/")
    parser.add_argument("--strict", action="store_true",
                        help="known library bugs are findings too (FUZZ_STRICT=1)")
    parser.add_argument("--keep-out", action="store_true",
                        help="keep earlier runs' output in --out (default: cleared)")
    args = parser.parse_args(argv)

    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit("fuzz/run.py needs atheris: pip install atheris")
    names = [n.strip() for n in args.harness.split(",") if n.strip()]
    unknown = [n for n in names if n not in HARNESSES]
    if unknown:
        sys.exit(f"unknown harness(es) {unknown}; known: {list(HARNESSES)}")
    if not args.keep_out:
        for name in names:
            shutil.rmtree(os.path.join(args.out, name), ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)

    # Split the time: each of the `jobs` lanes runs its harnesses back to back.
    jobs = max(1, min(args.jobs, len(names)))
    lanes = [[] for _ in range(jobs)]
    load = [0.0] * jobs
    for name in sorted(names, key=lambda n: -HARNESSES[n][3]):
        lane = load.index(min(load))
        lanes[lane].append(name)
        load[lane] += HARNESSES[name][3]
    budget = {}
    for lane, members in zip(lanes, lanes):
        weight = sum(HARNESSES[n][3] for n in members)
        overhead = sum(STARTUP.get(n, DEFAULT_STARTUP) + 1.0 for n in members)
        # 3 s for the final summary and a slow machine's process starts
        usable = max(len(members) * 2.0, args.time - overhead - 3.0)
        for n in members:
            budget[n] = max(2.0, usable * HARNESSES[n][3] / weight)

    print(f"fuzzing {', '.join(names)} for about {args.time:.0f} s with {jobs} job(s); "
          f"output in {args.out}", flush=True)
    started = time.monotonic()
    pending = [list(lane) for lane in lanes]
    running = [None] * jobs
    finished = []
    while any(pending) or any(running):
        for i in range(jobs):
            job = running[i]
            if job is not None and job.poll() is not None:
                job.finish()
                finished.append(job)
                running[i] = None
            if running[i] is None and pending[i]:
                name = pending[i].pop(0)
                running[i] = Job(name, budget[name], args.out, args.strict)
        time.sleep(0.2)

    failed = False
    total_execs = 0
    for job in sorted(finished, key=lambda j: names.index(j.name)):
        ok, line, crashes, execs, _ = summary(job)
        total_execs += execs
        print(line, flush=True)
        if not ok:
            failed = True
            tail = job.text.strip().splitlines()[-40:]
            print("\n".join("    | " + t for t in tail))
            for crash in crashes:
                path = os.path.join(job.dir, crash)
                script, arg, _, _ = HARNESSES[job.name]
                print(f"    reproduce: python fuzz/{script} {arg + ' ' if arg else ''}{path}")
        if args.update_corpus and ok:
            added = merge_into_corpus(job)
            print(f"    {added} new unit(s) merged into fuzz/corpus/{job.name}")
    print(f"total: {total_execs} execs in {time.monotonic() - started:.1f} s; "
          f"{'FINDINGS (see above)' if failed else 'no findings'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
