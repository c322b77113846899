"""Crash safety, for real: hptd killed with SIGKILL at random moments while its studies run under
load, restarted each time on the same tracker file and port, until the studies finish.

- Local runner: trials are Python processes reporting hundreds of points each through
  hpt_client, logging every report hpt acknowledged. At the end every acknowledged point of each
  trial's final attempt is in the tracker file, no point of an attempt lost with an engine is
  left, trials lost with an engine were re-queued once (TrialRequeued) and lost again at most as
  TrialLost.
- Kubernetes runner against hpt_fake_cluster: Jobs left by a killed hptd are adopted by the
  next one, never created twice (checked through the fake API server's watch of Jobs).

Run by ctest: /usr/bin/python3 tests/cli/test_crash.py HPT_BINARY SOURCE_DIR, with HPT_HPTD and
HPT_FAKE_CLUSTER in the environment. HPT_CRASH_SEED picks other kill moments.
"""
import glob
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import studies

HPT = None
SEED = int(os.environ.get("HPT_CRASH_SEED", "4711"))
# Generous: the machine may be loaded. Waits end as soon as their condition holds.
DEADLINE_S = 240

STEPS = 100  # per attempt; 5 points per step
METRICS = ("loss", "m0", "m1", "m2", "m3")
ATTEMPT_SCALE = 1_000_000  # m0..m3 carry attempt * ATTEMPT_SCALE + step

TRAIN = r'''"""A trial under load: STEPS reports of 5 points each through hpt_client; every report hpt
acknowledged is logged to <acks>/<trial>.<attempt> after the call returned."""
import os
import sys
import time

import hpt_client

x = float(sys.argv[1])
acks_dir = sys.argv[2]
steps = int(sys.argv[3])
trial = os.environ["HPT_TRIAL_ID"]
attempt = int(os.environ["HPT_TRIAL_ATTEMPT"])
# Retries UNAVAILABLE (hptd down) for long enough to outlive any restart.
reporter = hpt_client.Reporter(max_attempts=100000, initial_backoff=0.05, max_backoff=0.25,
                               timeout=10)
with open(os.path.join(acks_dir, f"{trial}.{attempt}"), "a", buffering=1) as acks:
    acks.write(f"start {os.getpid()}\n")
    for step in range(steps):
        base = attempt * 1000000 + step
        reporter.report({"loss": x + 1.0 / (step + 1), "m0": base, "m1": base + 0.25,
                         "m2": base + 0.5, "m3": base + 0.75}, step=step)
        acks.write(f"ack {step}\n")
        time.sleep(0.01)
    acks.write("done\n")
'''

K8S_STUDY = studies.shell_experiment("crash-k8s", "echo loss=${trialParameters.x}", 2, 24,
                                     namespace="ml")


def hpt(*args, timeout=120):
    return subprocess.run([HPT, *args], capture_output=True, text=True, timeout=timeout)


def wait_for(condition, what, timeout=DEADLINE_S, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Hptd:
    """hptd on one tracker file, killed with SIGKILL and started again on the same port."""

    def __init__(self, db, extra=()):
        self.db = db
        self.extra = list(extra)
        self.port = 0
        self.proc = None
        self.log = []  # every stderr line of every run

    def start(self):
        for _ in range(50):  # the port may take a moment to be free after a SIGKILL
            self.proc = subprocess.Popen(
                [os.environ["HPT_HPTD"], "--db", self.db, "--listen",
                 f"127.0.0.1:{self.port}", *self.extra],
                stderr=subprocess.PIPE, text=True)
            while True:
                line = self.proc.stderr.readline()
                if not line:
                    break
                self.log.append(line)
                m = re.search(r"metrics on port (\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self.drainer = threading.Thread(target=self._drain, args=(self.proc,),
                                                    daemon=True)
                    self.drainer.start()
                    return
            self.proc.wait()
            self.proc.stderr.close()
            if not any("cannot listen" in l for l in self.log[-3:]):
                raise AssertionError("hptd did not start:\n" + "".join(self.log[-20:]))
            time.sleep(0.1)
        raise AssertionError(f"hptd could not listen on port {self.port} again")

    def _drain(self, proc):
        for line in proc.stderr:
            self.log.append(line)
        proc.stderr.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        self.drainer.join(timeout=60)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.drainer.join(timeout=60)


def study_state(db, name):
    r = hpt("--db", db, "studies", "--format", "json")
    if r.returncode != 0:
        return None
    for row in json.loads(r.stdout):
        if row["study"] == name:
            return row["state"]
    return None


def finished(db, name):
    state = study_state(db, name)
    return state if state in ("SUCCEEDED", "FAILED") else None


def crash_rounds(daemon, db, study, rng, rounds, low, high):
    """Kills hptd with SIGKILL after a random delay and starts it again, `rounds` times (fewer
    when the study finishes first). Returns the number of kills."""
    kills = 0
    for _ in range(rounds):
        time.sleep(rng.uniform(low, high))
        if finished(db, study):
            break
        daemon.kill9()
        kills += 1
        daemon.start()
    return kills


def trial_rows(db, study):
    r = hpt("--db", db, "trials", study, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def show(db, trial):
    r = hpt("--db", db, "show", trial, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def events_of(db, trial):
    """(kind, message) of a trial's events, from `hpt show`'s table."""
    r = hpt("--db", db, "show", trial)
    assert r.returncode == 0, r.stderr
    text = r.stdout.split("\nevents\n", 1)[1].split("\nmanifest (rendered)\n", 1)[0]
    out = []
    for line in text.splitlines():
        m = re.match(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (\w+): (.*)$", line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


class LocalCrash(unittest.TestCase):
    """hptd with the local runner, killed under load."""

    def setUp(self):
        if not os.environ.get("HPT_HPTD"):
            self.skipTest("HPT_HPTD (the hptd binary) is not set")
        self.dir = tempfile.mkdtemp(prefix="hpt_crash_local_")
        self.db = os.path.join(self.dir, "hpt.db")
        self.acks = os.path.join(self.dir, "acks")
        os.makedirs(self.acks)
        train = os.path.join(self.dir, "train.py")
        with open(train, "w") as f:
            f.write(TRAIN)
        self.study = os.path.join(self.dir, "study.yaml")
        with open(self.study, "w") as f:
            # The interpreter running this test (ctest: Debian's, which has python3-grpcio).
            f.write(studies.experiment(
                "crash-local",
                [sys.executable, train, "${trialParameters.x}", self.acks, str(STEPS)], 3, 12))
        self.daemon = Hptd(self.db)

    def tearDown(self):
        self.daemon.stop()
        kill_leftover_trials(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_kill9_under_load_loses_nothing_acknowledged(self):
        rng = random.Random(SEED)
        self.daemon.start()
        r = hpt("--db", self.db, "submit", self.study)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The first trial processes have to start before a kill can orphan them.
        wait_for(lambda: glob.glob(os.path.join(self.acks, "*")), "a trial to start")
        kills = crash_rounds(self.daemon, self.db, "crash-local", rng, 5, 0.3, 1.6)
        self.assertGreaterEqual(kills, 3, "the study finished before hptd was killed 3 times")
        state = wait_for(lambda: finished(self.db, "crash-local"), "the study to finish")
        self.assertEqual(state, "SUCCEEDED", "".join(self.daemon.log[-30:]))

        rows = trial_rows(self.db, "crash-local")
        self.assertEqual(len(rows), 12)
        points = stored_points(self.db)
        requeued_total = 0
        for row in rows:
            name = row["trial"]
            with self.subTest(trial=name):
                info = show(self.db, name)
                self.assertIn(info["state"], ("SUCCEEDED", "FAILED"), info)
                kinds = [k for k, _ in events_of(self.db, name)]
                requeues = kinds.count("TrialRequeued")
                requeued_total += requeues
                # Re-queued once at most; lost again, a trial is TrialLost.
                self.assertLessEqual(requeues, 1, kinds)
                if info["state"] == "FAILED":
                    self.assertEqual(info["reason"], "TrialLost", info)
                    if requeues == 1:
                        self.assertIn("had already been run again once", info["message"])
                attempts = sorted(int(p.rsplit(".", 1)[1])
                                  for p in glob.glob(os.path.join(self.acks, name + ".*")))
                self.assertTrue(attempts, "no attempt of the trial ran")
                final = attempts[-1]
                self.assertEqual(final, 1 + requeues if final > 1 else 1,
                                 f"attempts {attempts}, events {kinds}")
                acked = acked_steps(os.path.join(self.acks, f"{name}.{final}"))
                mine = points.get(name, {})
                # No duplicate point: replays after a kill are stored once.
                for metric in METRICS:
                    steps = [s for s, _ in mine.get(metric, [])]
                    self.assertEqual(len(steps), len(set(steps)), f"{metric} has duplicate steps")
                # No point of a lost attempt survives.
                for metric in METRICS[1:]:
                    for step, value in mine.get(metric, []):
                        self.assertEqual(int(value) // ATTEMPT_SCALE, final,
                                         f"{metric} step {step} = {value} is from another attempt")
                # Every acknowledged point of the final attempt is there, exactly.
                stored = {m: dict(mine.get(m, [])) for m in METRICS}
                for step in acked["steps"]:
                    for i, metric in enumerate(METRICS[1:]):
                        self.assertEqual(stored[metric].get(step),
                                         final * ATTEMPT_SCALE + step + 0.25 * i,
                                         f"acknowledged {metric} step {step} is missing")
                    self.assertIn(step, stored["loss"])
                if info["state"] == "SUCCEEDED":
                    self.assertTrue(acked["done"])
                    self.assertEqual(info["metrics"]["loss"]["count"], STEPS)
                    for metric in METRICS:
                        self.assertEqual(len(stored[metric]), STEPS)
        # Every kill hit running trials of this busy study: some were run again.
        self.assertGreaterEqual(requeued_total, 1)
        lost = sum(1 for row in rows if row["state"] == "FAILED")
        # What lost attempts left behind was cleaned up: no process record is left.
        self.assertEqual(glob.glob(os.path.join(self.dir, "hpt-runs", "**", "*.hpt-process"),
                                   recursive=True), [])
        print(f"\n  {kills} kills; {requeued_total} trials re-queued, {lost} lost twice "
              "(TrialLost)", file=sys.stderr)


def acked_steps(path):
    steps, done = [], False
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break  # cut short by the kill
            if line.startswith("ack "):
                steps.append(int(line.split()[1]))
            elif line == "done\n":
                done = True
    return {"steps": steps, "done": done}


def stored_points(db):
    """trial name -> metric -> [(step, value)], read from the tracker file (read-only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(
            "SELECT t.name, n.name, m.step, m.value FROM metrics m "
            "JOIN trials t ON t.id = m.trial_id JOIN metric_names n ON n.id = m.name_id").fetchall()
    finally:
        con.close()
    out = {}
    for trial, metric, step, value in rows:
        out.setdefault(trial, {}).setdefault(metric, []).append((step, value))
    return out


def kill_leftover_trials(root):
    """Kills trial process groups a failed test may have left (found through their records)."""
    for path in glob.glob(os.path.join(root, "**", "*.hpt-process"), recursive=True):
        try:
            with open(path) as f:
                fields = dict(l.split("=", 1) for l in f.read().splitlines()[1:] if "=" in l)
            pid, pgid, start = int(fields["pid"]), int(fields["pgid"]), fields["start_time"]
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            if stat[stat.rfind(")") + 2:].split()[19] == start:
                os.killpg(pgid, signal.SIGKILL)
        except (OSError, KeyError, ValueError, IndexError):
            pass


class KubernetesCrash(unittest.TestCase):
    """hptd with the Kubernetes runner against hpt_fake_cluster, killed while Jobs run."""

    def setUp(self):
        fake = os.environ.get("HPT_FAKE_CLUSTER")
        if not fake or not os.environ.get("HPT_HPTD"):
            self.skipTest("HPT_FAKE_CLUSTER and HPT_HPTD are not both set")
        self.dir = tempfile.mkdtemp(prefix="hpt_crash_k8s_")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.cluster = subprocess.Popen([fake, self.kubeconfig, "ml"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        line = self.cluster.stdout.readline()
        self.assertTrue(line.startswith("ready "), line)
        self.base = line.split()[1]
        # Every change after this point can be replayed from the server's history (a watch from
        # this resourceVersion), the creation of each Job included.
        with urllib.request.urlopen(self.base + "/apis/batch/v1/namespaces/ml/jobs",
                                    timeout=60) as resp:
            self.start_version = json.load(resp)["metadata"]["resourceVersion"]
        self.db = os.path.join(self.dir, "hpt.db")
        self.study = os.path.join(self.dir, "study.yaml")
        with open(self.study, "w") as f:
            f.write(K8S_STUDY)
        self.daemon = Hptd(self.db, ["--runner", "kubernetes", "--kubeconfig", self.kubeconfig])

    def created_jobs(self):
        """(name, uid) of every Job created since setUp, from a watch replaying the history."""
        url = (f"{self.base}/apis/batch/v1/namespaces/ml/jobs?watch=1&timeoutSeconds=1"
               f"&resourceVersion={self.start_version}")
        added = []
        with urllib.request.urlopen(url, timeout=60) as resp:
            for line in resp:
                event = json.loads(line)
                self.assertNotEqual(event.get("type"), "ERROR", event)
                if event.get("type") == "ADDED":
                    meta = event["object"]["metadata"]
                    added.append((meta["name"], meta["uid"]))
        return added

    def listed_jobs(self):
        with urllib.request.urlopen(self.base + "/apis/batch/v1/namespaces/ml/jobs",
                                    timeout=60) as resp:
            return {j["metadata"]["name"] for j in json.load(resp)["items"]}

    def tearDown(self):
        self.daemon.stop()
        self.cluster.stdin.close()
        self.cluster.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_kill9_adopts_jobs_and_never_creates_one_twice(self):
        rng = random.Random(SEED + 1)
        self.daemon.start()
        r = hpt("--db", self.db, "submit", self.study)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_for(lambda: self.listed_jobs(), "the first Job", interval=0.01)
        kills = crash_rounds(self.daemon, self.db, "crash-k8s", rng, 5, 0.0, 0.4)
        self.assertGreaterEqual(kills, 1)
        state = wait_for(lambda: finished(self.db, "crash-k8s"), "the study to finish")
        self.assertEqual(state, "SUCCEEDED", "".join(self.daemon.log[-30:]))

        rows = trial_rows(self.db, "crash-k8s")
        self.assertEqual(len(rows), 24)
        added = self.created_jobs()
        self.assertLessEqual(self.listed_jobs(), {n for n, _ in added})  # the history has them all
        jobs = {}
        for name, uid in added:
            jobs.setdefault(name, set()).add(uid)
        adopted = requeued = 0
        for row in rows:
            name = row["trial"]
            with self.subTest(trial=name):
                info = show(self.db, name)
                kinds = [k for k, _ in events_of(self.db, name)]
                adopted += kinds.count("TrialAdopted")
                # A trial whose Job the next hptd does not find (killed between its record and
                # its Job) is run once more (Reclaim found nothing of it); adopted ones never.
                self.assertLessEqual(kinds.count("TrialRequeued"), 1, kinds)
                requeued += kinds.count("TrialRequeued")
                self.assertLessEqual(len(jobs.get(name, ())), 1, f"{name} has two Jobs")
                if info["state"] == "SUCCEEDED":
                    self.assertEqual(len(jobs.get(name, ())), 1)
                    self.assertAlmostEqual(info["metrics"]["loss"]["latest"],
                                           float(info["params"]["x"]))
                else:
                    # Lost twice between its record and its Job.
                    self.assertEqual(info["reason"], "TrialLost", info)
        self.assertEqual(set(jobs), {n for n in jobs if n.startswith("crash-k8s-")})
        self.assertGreaterEqual(adopted, 1)  # some kill left Jobs for the next hptd
        print(f"\n  {kills} kills; {adopted} Jobs adopted, {requeued} trials run again, "
              f"{len(added)} Jobs created", file=sys.stderr)


if __name__ == "__main__":
    HPT = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], "-v"])
