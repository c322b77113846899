#!/usr/bin/python3
"""Time of one `hpt suggest` ask as the number of finished trials grows.

For every history size n (and every batch size b) a fresh `hpt suggest` process is started, a
d-dimensional unit float space is declared (x0..x{d-1} in [0, 1]), and n finished trials are told:
a fixed-seed uniform random design (numpy's default_rng(seed).random((n, d)) when numpy is
available, which are the same points as the bench harness's overhead.py draws for that seed)
with Styblinski-Tang values on [-5, 5]^d (x = 10u - 5). Then `ask` (b = 1: {"op":"ask"}, else
{"op":"ask","n":b}) is timed --repeats times, each result told back between repeats (so repeat r
sees n + r*b trials); the median seconds per ask is reported. The time includes the JSON-lines
round trip (~0.1 ms), which is noise next to a GP suggestion.

--sklearn also times scikit-learn's GP (the skopt-style Matern-5/2 ARD GP of the bench harness,
fit + predict on 2000 candidates) at the same n and d in the same run, by calling
overhead.gp_part() of the harness (fits past --sklearn-cap seconds are stopped and estimated
there, marked "~").

    /usr/bin/python3 bench/suggest_speed.py --algorithm random --n 100,1000 --batch 1
    /usr/bin/python3 bench/suggest_speed.py --sklearn --out /tmp/suggest_speed.json

The child's stderr goes to a file per run under --log-dir; its last lines are printed on errors.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import select
import statistics
import subprocess
import sys
import time
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class SuggestError(RuntimeError):
    pass


class SuggestTimeout(SuggestError):
    pass


def styblinski_tang(u: List[float]) -> float:
    """Styblinski-Tang of x = 10u - 5 (u in the unit cube); minimum -39.166 * d."""
    total = 0.0
    for ui in u:
        x = 10.0 * ui - 5.0
        total += x ** 4 - 16.0 * x ** 2 + 5.0 * x
    return 0.5 * total


def design(n: int, d: int, seed: int):
    """n points of the unit cube, fixed by seed, and where they came from."""
    try:
        import numpy as np
    except ImportError:
        rng = random.Random(seed)
        return [[rng.random() for _ in range(d)] for _ in range(n)], "python random.Random"
    return np.random.default_rng(seed).random((n, d)).tolist(), "numpy default_rng"


class SuggestProcess:
    """One `hpt suggest` child: JSON lines over pipes, each reply awaited with a timeout."""

    def __init__(self, argv: List[str], stderr_path: str, timeout_s: float):
        self.argv = argv
        self.stderr_path = stderr_path
        self.timeout_s = timeout_s
        self.stderr_file = open(stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file)
        self.fd = self.proc.stdout.fileno()
        self.buf = b""

    def send(self, messages: List[dict]) -> None:
        data = "".join(json.dumps(m) + "\n" for m in messages).encode()
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError as e:
            raise SuggestError(f"hpt suggest exited (rc={self.proc.poll()})") from e

    def receive(self, what: str) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SuggestTimeout(f"no reply to {what} within {self.timeout_s:.0f} s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise SuggestError(f"hpt suggest closed stdout before replying to {what} "
                                   f"(rc={self.proc.poll()})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError as e:
            raise SuggestError(f"bad JSON reply to {what}: {line[:200]!r}") from e
        if not isinstance(reply, dict):
            raise SuggestError(f"reply to {what} is not an object: {line[:200]!r}")
        if "error" in reply:
            raise SuggestError(f"error reply to {what}: {reply['error']}")
        return reply

    def call(self, message: dict) -> dict:
        self.send([message])
        return self.receive(message["op"])

    def tell_many(self, params_list: List[dict], values: List[float], chunk: int = 256) -> None:
        """Tells in pipelined chunks: the replies of one chunk (12 bytes each) fit the pipe."""
        for start in range(0, len(params_list), chunk):
            part = range(start, min(start + chunk, len(params_list)))
            self.send([{"op": "tell", "params": params_list[i], "value": values[i]}
                       for i in part])
            for _ in part:
                self.receive("tell")

    def close(self) -> int:
        try:
            if self.proc.poll() is None:
                try:
                    self.call({"op": "close"})
                except SuggestError:
                    pass
                self.proc.stdin.close()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self.stderr_file.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr_file.close()

    def stderr_tail(self, lines: int = 10) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def hpt_row(args, n: int, batch: int) -> dict:
    names = [f"x{i}" for i in range(args.d)]
    space = [{"name": name, "type": "float", "low": 0.0, "high": 1.0} for name in names]
    points, source = design(n, args.d, args.seed)
    params = [dict(zip(names, p)) for p in points]
    values = [styblinski_tang(p) for p in points]
    argv = [args.hpt, "suggest", "--algorithm", args.algorithm]
    for s in args.setting:
        argv += ["--setting", s]
    log = os.path.join(args.log_dir, f"suggest-{args.algorithm}-n{n}-b{batch}.stderr")
    row = {"n": n, "batch": batch, "design": source, "stderr": log}
    child = SuggestProcess(argv, log, args.timeout)
    try:
        child.call({"op": "init", "space": space, "seed": args.seed, "budget": n + 64})
        t = time.perf_counter()
        child.tell_many(params, values)
        row["fill_s"] = time.perf_counter() - t
        asks, tells = [], []
        request = {"op": "ask"} if batch == 1 else {"op": "ask", "n": batch}
        for _ in range(args.repeats):
            t = time.perf_counter()
            reply = child.call(request)
            asks.append(time.perf_counter() - t)
            got = [reply["params"]] if batch == 1 else reply["params_list"]
            if len(got) != batch:
                raise SuggestError(f"asked for {batch} points, got {len(got)}")
            t = time.perf_counter()
            child.tell_many(got, [styblinski_tang([p[name] for name in names]) for p in got])
            tells.append(time.perf_counter() - t)
        row.update(ask_s=asks, median_s=statistics.median(asks), min_s=min(asks),
                   tell_s=statistics.median(tells))
        row["rc"] = child.close()
    except SuggestTimeout as e:
        child.kill()
        row.update(error=str(e), timed_out=True)
    except SuggestError as e:
        child.kill()
        row.update(error=str(e))
        tail = child.stderr_tail()
        if tail:
            row["error"] += f"\n  stderr ({log}):\n  " + tail.replace("\n", "\n  ")
    except BaseException:
        child.kill()
        raise
    return row


def sklearn_rows(args, ns: List[int]) -> Optional[dict]:
    harness = os.path.abspath(args.harness)
    if not os.path.isfile(os.path.join(harness, "overhead.py")):
        print(f"--sklearn: overhead.py not found in {harness} (set --harness or "
              f"$HPT_BENCH_HARNESS); skipping the scikit-learn column", file=sys.stderr)
        return None
    sys.path.insert(0, harness)
    try:
        import overhead  # the harness's skopt-style GP timing (fit + predict on 2000 candidates)
    except ImportError as e:
        print(f"--sklearn: cannot import the harness ({e}); install python3-sklearn "
              f"python3-numpy python3-scipy; skipping the scikit-learn column", file=sys.stderr)
        return None
    # overhead.py measures at its module constant D (10); the same d as the hpt runs here.
    overhead.D = args.d
    X, _, _ = overhead.gp_data(ns[0], args.seed)
    same = X.tolist() == design(ns[0], args.d, args.seed)[0]
    print(f"# scikit-learn GP: BLAS = {overhead.blas_info()}; same design points as hpt: "
          f"{'yes' if same else 'no'}", flush=True)
    rows = overhead.gp_part(ns, args.sklearn_repeats, args.sklearn_repeats_large,
                            args.sklearn_large, args.sklearn_cap, eval_only=False)
    return {"blas": overhead.blas_info(), "same_design": same,
            "rows": {row["n"]: row for row in rows}}


def sklearn_seconds(row: Optional[dict]) -> str:
    if row is None:
        return "-"
    if row.get("completed"):
        return f"{row['fit_s'] + row['predict_s']:.3g}"
    if math.isfinite(row.get("est_fit_s", math.nan)):
        return f"~{row['est_fit_s']:.3g}"
    return "capped"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hpt", default=os.path.join("build", "cli", "hpt"),
                    help="the hpt binary (default build/cli/hpt)")
    ap.add_argument("--algorithm", default="bayesianoptimization")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="algorithm setting, repeatable (passed as hpt suggest --setting)")
    ap.add_argument("--n", default="100,250,500,1000,2000", help="history sizes")
    ap.add_argument("--d", type=int, default=10, help="dimensions")
    ap.add_argument("--batch", default="1,8", help="points per ask")
    ap.add_argument("--repeats", type=int, default=3, help="timed asks per (n, batch)")
    ap.add_argument("--seed", type=int, default=0, help="design and sampler seed")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds to wait for any one reply; a timed-out (n, batch) skips the "
                         "larger n of that batch")
    ap.add_argument("--log-dir", default=os.path.join(
        os.environ.get("BENCH_BUILD", "/tmp/bench-harness-build"), "suggest_speed"),
        help="where the children's stderr files go")
    ap.add_argument("--sklearn", action="store_true",
                    help="also time scikit-learn's GP fit + predict at the same n and d")
    ap.add_argument("--harness", default=os.environ.get(
        "HPT_BENCH_HARNESS", os.path.join(REPO, "..", "shared", "bench-harness")),
        help="the bench harness folder holding overhead.py (for --sklearn)")
    ap.add_argument("--sklearn-cap", type=float, default=150.0,
                    help="seconds per scikit-learn fit before it is stopped and estimated")
    ap.add_argument("--sklearn-repeats", type=int, default=1, help="fits per n below --sklearn-large")
    ap.add_argument("--sklearn-repeats-large", type=int, default=1)
    ap.add_argument("--sklearn-large", type=int, default=1000)
    ap.add_argument("--out", default=None, help="write all measurements as JSON here")
    args = ap.parse_args(argv)

    try:
        ns = [int(x) for x in args.n.split(",") if x]
        batches = [int(x) for x in args.batch.split(",") if x]
    except ValueError:
        ap.error("--n and --batch take comma-separated integers, e.g. --n 100,500 --batch 1,8")
    if not ns or min(ns) < 0 or not batches or min(batches) < 1 or args.d < 1 or args.repeats < 1:
        ap.error("--n must be >= 0, --batch >= 1, --d >= 1 and --repeats >= 1")
    for s in args.setting:
        if "=" not in s or s.startswith("="):
            ap.error(f"--setting {s!r} must be KEY=VALUE")
    if not (os.path.isfile(args.hpt) and os.access(args.hpt, os.X_OK)):
        print(f"error: no hpt binary at {args.hpt!r}; build it (cmake --build build --target hpt) "
              f"or pass --hpt PATH", file=sys.stderr)
        return 2
    os.makedirs(args.log_dir, exist_ok=True)

    print(f"# hpt suggest --algorithm {args.algorithm} {' '.join(args.setting)}: d={args.d}, "
          f"repeats={args.repeats}, {platform.node()} ({os.cpu_count()} cpus)", flush=True)
    t0 = time.time()
    rows = []
    for batch in batches:
        stop_after = None
        for n in ns:
            if stop_after is not None:
                rows.append({"n": n, "batch": batch, "error": f"skipped: n={stop_after} timed out"})
                continue
            row = hpt_row(args, n, batch)
            rows.append(row)
            if "error" in row:
                print(f"  n={n:5d} batch={batch:3d}  ERROR {row['error']}", flush=True)
                if row.get("timed_out"):
                    stop_after = n
            else:
                print(f"  n={n:5d} batch={batch:3d}  ask median {row['median_s']:.4g} s "
                      f"(min {row['min_s']:.4g})  fill {row['fill_s']:.2f} s", flush=True)

    sk = sklearn_rows(args, ns) if args.sklearn else None

    print()
    print(f"| n | batch | hpt {args.algorithm} median s per ask | min s | sklearn GP fit+predict s |")
    print("|---|---|---|---|---|")
    for row in rows:
        sk_cell = sklearn_seconds(sk["rows"].get(row["n"])) if sk else "-"
        if "error" in row:
            hpt_cell, min_cell = "error" if not row.get("timed_out") else "timeout", "-"
        else:
            hpt_cell, min_cell = f"{row['median_s']:.4g}", f"{row['min_s']:.4g}"
        print(f"| {row['n']} | {row['batch']} | {hpt_cell} | {min_cell} | {sk_cell} |")
    elapsed = time.time() - t0
    print(f"\n# elapsed {elapsed:.0f} s; children's stderr in {args.log_dir}")

    if args.out:
        result = {"hpt": os.path.abspath(args.hpt), "algorithm": args.algorithm,
                  "settings": args.setting, "d": args.d, "repeats": args.repeats,
                  "seed": args.seed, "machine": {"node": platform.node(),
                                                 "cpus": os.cpu_count()},
                  "rows": rows, "sklearn": sk, "elapsed_s": elapsed}
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
