"""End-to-end tests of the `hpt` command: real binary, real processes, real SQLite file.

Run by ctest: /usr/bin/python3 tests/cli/test_cli.py HPT_BINARY SOURCE_DIR
"""
import csv
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import studies

HPT = None
SRC = None
KATIB = None


def hpt(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([HPT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def katib_dir():
    """Katib's example YAMLs (shared/peers/katib beside the checkout, or $HPT_KATIB_FIXTURES).

    They are Katib's files, not hpt's, so they are not committed here; without them these tests
    are skipped with a message saying so."""
    return os.environ.get("HPT_KATIB_FIXTURES") or os.path.join(SRC, "..", "shared", "peers", "katib")


class ValidateKatibFixtures(unittest.TestCase):
    """Every Katib example either validates or fails with a clear 'not supported yet'."""

    def setUp(self):
        if not os.path.isdir(KATIB):
            self.skipTest(f"Katib fixtures not found at {KATIB} (set HPT_KATIB_FIXTURES)")

    EXPECTED = {
        "v1beta1/random.yaml": ("OK", None),
        "v1beta1/grid.yaml": ("OK", None),
        "v1beta1/file-metrics-collector.yaml": ("OK", None),
        "v1beta1/bayesian-optimization.yaml": ("OK", None),
        "v1beta1/cma-es.yaml": ("NOT SUPPORTED YET", "algorithm 'cmaes'"),
        "v1beta1/hyperband.yaml": ("NOT SUPPORTED YET", "algorithm 'hyperband'"),
        "v1beta1/median-stop.yaml": ("OK", None),
        "v1alpha1/random-example.yaml": ("OK", None),
        "v1alpha1/grid-example.yaml": ("OK", None),
        "v1alpha1/workerConfigMap.yaml": ("OK", None),
        "v1alpha1/bayseopt-example.yaml": ("OK", None),
        "v1alpha1/hypb-example.yaml": ("NOT SUPPORTED YET", "algorithm 'hyperband'"),
        "v1alpha1/tfjob-example.yaml": ("NOT SUPPORTED YET", "metrics"),
    }

    def test_every_fixture_is_covered(self):
        found = set()
        for d in ("v1alpha1", "v1beta1"):
            for f in os.listdir(os.path.join(KATIB, d)):
                if f.endswith(".yaml"):
                    found.add(f"{d}/{f}")
        self.assertEqual(found, set(self.EXPECTED))

    def test_fixtures(self):
        for rel, (verdict, fragment) in self.EXPECTED.items():
            with self.subTest(rel):
                path = os.path.join(KATIB, rel)
                r = hpt("validate", path)
                self.assertIn(f"{path}: {verdict}\n", r.stdout, r.stdout + r.stderr)
                self.assertEqual(r.returncode, 0 if verdict == "OK" else 1)
                if fragment:
                    self.assertIn("not supported yet", r.stderr)
                    self.assertIn(fragment, r.stderr)

    def test_many_files_at_once(self):
        r = hpt("validate", os.path.join(KATIB, "v1beta1/random.yaml"),
                os.path.join(KATIB, "v1beta1/cma-es.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("random.yaml: OK", r.stdout)
        self.assertIn("cma-es.yaml: NOT SUPPORTED YET", r.stdout)


class BadInput(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hpt_cli_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_malformed_yaml_names_line_and_column(self):
        p = self.write("bad.yaml", "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n"
                                   "metadata:\n  name: x\nspec:\n  objective: [unclosed\n")
        r = hpt("validate", p)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, rf"{p}:\d+:\d+: error: ")
        self.assertIn(": INVALID", r.stdout)

    def test_all_problems_reported_in_one_pass(self):
        with open(os.path.join(SRC, "examples/quickstart/study.yaml")) as f:
            text = f.read()
        text = text.replace('min: "0.01"', 'min: "abc"').replace("type: minimize", "type: lowest")
        text = text.replace("parallelTrialCount: 3", "parallelTrialCount: 0")
        p = self.write("three.yaml", text)
        r = hpt("validate", p)
        self.assertEqual(r.returncode, 1)
        errors = [l for l in r.stderr.splitlines() if ": error: " in l]
        self.assertGreaterEqual(len(errors), 3, r.stderr)
        self.assertTrue(any("spec.parameters[0].feasibleSpace.min" in e for e in errors), r.stderr)
        self.assertTrue(any("spec.objective.type" in e for e in errors), r.stderr)
        self.assertTrue(any("spec.parallelTrialCount" in e for e in errors), r.stderr)

    def test_missing_file(self):
        r = hpt("validate", os.path.join(self.dir, "nope.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.yaml", r.stderr)

    def test_run_refuses_an_invalid_study_and_writes_nothing(self):
        p = self.write("bad.yaml", "kind: Experiment\n")
        db = os.path.join(self.dir, "hpt.db")
        r = hpt("--db", db, "run", p)
        self.assertEqual(r.returncode, 1)
        self.assertFalse(os.path.exists(db))

    def test_leaderboard_without_db(self):
        r = hpt("--db", os.path.join(self.dir, "none.db"), "leaderboard")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no tracker file", r.stderr)

    def test_bad_format(self):
        r = hpt("validate")
        self.assertNotEqual(r.returncode, 0)


class Quickstart(unittest.TestCase):
    """The README's first command's study, through the binary, into a fresh tracker file."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hpt_quickstart_")
        cls.db = os.path.join(cls.dir, "hpt.db")
        cls.result = hpt("--db", cls.db, "run", os.path.join(SRC, "examples/quickstart/study.yaml"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_run_succeeds_and_prints_the_leaderboard(self):
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)
        self.assertIn("study quickstart: SUCCEEDED (ExperimentMaxTrialsReached)", self.result.stdout)
        self.assertIn("leaderboard of quickstart", self.result.stdout)

    def trials_without_objective(self):
        """For a failure message: each trial that has no objective, with its reason and log."""
        trials = json.loads(hpt("--db", self.db, "trials", "--format", "json").stdout)
        out = []
        for t in trials:
            if t.get("loss") is None:
                info = json.loads(hpt("--db", self.db, "show", t["trial"], "--format", "json").stdout)
                log = os.path.join(self.dir, "hpt-runs", "quickstart", t["trial"], "trial.log")
                tail = open(log).read()[-1500:] if os.path.exists(log) else "(no log)"
                out.append(f"{t['trial']} {info['state']} {info['reason']}: {info['message']}\n"
                           f"log tail:\n{tail}")
        return "\n".join(out) + "\nhpt run printed:\n" + self.result.stdout[-3000:] + \
            self.result.stderr[-2000:]

    def test_leaderboard_json(self):
        r = hpt("--db", self.db, "leaderboard", "--format", "json", "--top", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)
        self.assertEqual(len(rows), 12, self.trials_without_objective())
        losses = [row["loss"] for row in rows]
        self.assertEqual(losses, sorted(losses))
        self.assertEqual([row["rank"] for row in rows], list(range(1, 13)))
        for row in rows:
            self.assertEqual(row["state"], "SUCCEEDED")
            self.assertIn("accuracy", row)

    def test_filters_pick_the_same_trials_as_the_rows_say(self):
        rows = json.loads(hpt("--db", self.db, "leaderboard", "--format", "json", "--top",
                              "0").stdout)
        f = "params.optimizer = 'adam' or (metrics.accuracy > 0.8 and params.hidden >= 16)"
        want = [r["trial"] for r in rows
                if r["optimizer"] == "adam" or (r["accuracy"] > 0.8 and float(r["hidden"]) >= 16)]
        r = hpt("--db", self.db, "leaderboard", "--format", "json", "--top", "0", "--filter", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([row["trial"] for row in json.loads(r.stdout)], want)
        self.assertTrue(0 < len(want) < len(rows), want)
        r = hpt("--db", self.db, "trials", "--format", "csv", "--filter", "not (" + f + ")")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(list(csv.DictReader(io.StringIO(r.stdout)))), len(rows) - len(want))
        bad = hpt("--db", self.db, "leaderboard", "--filter", "metrics.loss >< 2")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("filter column 15: expected a value after '>', got '<'", bad.stderr)

    def test_metrics_came_over_grpc_per_epoch(self):
        r = hpt("--db", self.db, "trials", "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        trials = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(trials), 12)
        show = hpt("--db", self.db, "show", trials[0]["trial"], "--format", "json")
        self.assertEqual(show.returncode, 0, show.stderr)
        info = json.loads(show.stdout)
        self.assertGreater(info["metrics"]["loss"]["count"], 1)  # one point per epoch
        self.assertEqual(info["manifest"]["kind"], "Job")
        self.assertEqual(info["manifest"]["metadata"]["name"], trials[0]["trial"])

    def test_render_is_a_yaml_stream_of_jobs(self):
        r = hpt("render", os.path.join(SRC, "examples/quickstart/study.yaml"), "--trials", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("---\n"), 2)
        self.assertIn("kind: Job", r.stdout)
        self.assertIn("name: quickstart-00002", r.stdout)


class SuggestAskTell(unittest.TestCase):
    """`hpt suggest` through a real subprocess, the way the benchmark harness drives it."""

    SPACE = [{"name": "x0", "type": "float", "low": 0.0, "high": 1.0},
             {"name": "k", "type": "int", "low": 0, "high": 10},
             {"name": "c", "type": "categorical", "choices": ["alpha", "beta"]}]

    def start(self, *args):
        proc = subprocess.Popen([HPT, "suggest", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                bufsize=1)
        self.addCleanup(self.stop, proc)
        return proc

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()

    def call(self, proc, line, timeout=60):
        """Writes one request line and waits for exactly one reply line (no batching needed)."""
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        self.assertTrue(ready, f"no reply within {timeout} s to {line!r}")
        reply = proc.stdout.readline()
        self.assertTrue(reply.endswith("\n"), f"reply to {line!r} is not a full line: {reply!r}")
        return json.loads(reply)

    def check_params(self, params):
        self.assertEqual(list(params), ["x0", "k", "c"])
        self.assertIsInstance(params["x0"], float)
        self.assertTrue(0.0 <= params["x0"] <= 1.0, params)
        self.assertIsInstance(params["k"], int)
        self.assertTrue(0 <= params["k"] <= 10, params)
        self.assertIn(params["c"], ("alpha", "beta"))

    def test_init_ask_tell_close(self):
        proc = self.start("--algorithm", "random", "--setting", "random_state=3")
        init = {"op": "init", "space": self.SPACE, "seed": 0, "budget": 20}
        self.assertEqual(self.call(proc, json.dumps(init)), {"ok": True})
        for i in range(10):
            params = self.call(proc, json.dumps({"op": "ask"}))["params"]
            self.check_params(params)
            value = (params["x0"] - 0.3) ** 2 + params["k"] + (params["c"] == "beta")
            self.assertEqual(self.call(proc, json.dumps({"op": "tell", "params": params,
                                                         "value": value})), {"ok": True})
        batch = self.call(proc, json.dumps({"op": "ask", "n": 3}))["params_list"]
        self.assertEqual(len(batch), 3)
        for params in batch:
            self.check_params(params)
        self.assertEqual(self.call(proc, json.dumps({"op": "tell", "params": batch[0],
                                                     "value": None})), {"ok": True})
        self.assertIn("already told", self.call(proc, json.dumps(
            {"op": "tell", "params": batch[0], "value": 1.0}))["error"])
        self.assertEqual(self.call(proc, '{"op":"close"}'), {"ok": True})
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assertEqual(proc.stdout.read(), "")
        self.assertEqual(proc.stderr.read(), "")

    def test_same_seed_same_suggestions(self):
        script = "\n".join([json.dumps({"op": "init", "space": self.SPACE, "seed": 42}),
                            '{"op":"ask","n":5}', '{"op":"close"}']) + "\n"
        runs = [subprocess.run([HPT, "suggest", "--algorithm", "sobol"], input=script,
                               capture_output=True, text=True, timeout=60) for _ in range(2)]
        self.assertEqual(runs[0].returncode, 0, runs[0].stderr)
        self.assertEqual(runs[0].stdout, runs[1].stdout)
        self.assertEqual(len(json.loads(runs[0].stdout.splitlines()[1])["params_list"]), 5)

    def test_malformed_lines_keep_serving(self):
        lines = ["garbage", "", "[1]", '{"op":"ask"}', '{"op":"fly"}',
                 json.dumps({"op": "init", "space": [{"name": "k", "type": "int", "low": 0,
                                                      "high": 1}]}),
                 '{"op":"ask","n":0}', '{"op":"tell","params":{"k":0},"value":NaN}',
                 '{"op":"tell","params":{"k":7},"value":1}', '{"op":"ask"}']
        r = subprocess.run([HPT, "suggest", "--algorithm", "grid"], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)  # end of input without close
        replies = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(replies), len(lines) - 1)  # the blank line gets no reply
        self.assertIn("bad JSON", replies[0]["error"])
        self.assertIn("must be a JSON object", replies[1]["error"])
        self.assertIn("send init first", replies[2]["error"])
        self.assertIn('unknown op "fly"', replies[3]["error"])
        self.assertEqual(replies[4], {"ok": True})
        self.assertIn('"n" must be an integer from 1 to 10000', replies[5]["error"])
        self.assertIn("NaN and Infinity are not JSON", replies[6]["error"])
        self.assertEqual(replies[7], {"error": 'tell: parameter "k": 7 is outside [0, 1]'})
        self.assertEqual(replies[8], {"params": {"k": 0}})

    def test_grid_exhaustion(self):
        lines = [json.dumps({"op": "init", "space": [{"name": "c", "type": "categorical",
                                                      "choices": [True, "b", 3]}]}),
                 '{"op":"ask","n":2}', '{"op":"ask"}', '{"op":"ask"}', '{"op":"ask","n":4}',
                 '{"op":"close"}']
        r = subprocess.run([HPT, "suggest", "--algorithm", "grid"], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([json.loads(line) for line in r.stdout.splitlines()], [
            {"ok": True},
            {"params_list": [{"c": True}, {"c": "b"}]},
            {"params": {"c": 3}},
            {"error": "search space exhausted: algorithm 'grid' has nothing more to propose "
                      "after 3 trials"},
            {"params_list": []},
            {"ok": True}])

    def test_usage_errors_exit_2(self):
        for args in (["--algorithm", ""], ["--algorithm", "random", "--setting", "novalue"], []):
            with self.subTest(args=args):
                r = subprocess.run([HPT, "suggest", *args], input="", capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_unknown_algorithm_is_reported_at_init(self):
        r = subprocess.run([HPT, "suggest", "--algorithm", "nope"],
                           input=json.dumps({"op": "init", "space": self.SPACE}) + "\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("init: unknown algorithm 'nope'; known: ", json.loads(r.stdout)["error"])


K8S_STUDY = studies.shell_experiment(
    "k8s-cli", "echo loss=${trialParameters.x}; preempt-once", 2, 4, namespace="ml",
    annotations={"ai.bloomberg.com/project": "foo"})


class KubernetesRun(unittest.TestCase):
    """`hpt run --runner kubernetes` against hpt_fake_cluster (a fake API server and a pretend
    kubelet that 'runs' each Job's `echo`, preempting every first attempt)."""

    @classmethod
    def setUpClass(cls):
        fake = os.environ.get("HPT_FAKE_CLUSTER")
        if not fake:
            raise unittest.SkipTest("HPT_FAKE_CLUSTER (the hpt_fake_cluster binary) is not set")
        cls.dir = tempfile.mkdtemp(prefix="hpt_k8s_cli_")
        cls.kubeconfig = os.path.join(cls.dir, "kubeconfig")
        cls.cluster = subprocess.Popen([fake, cls.kubeconfig, "ml"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        line = cls.cluster.stdout.readline()
        assert line.startswith("ready "), line
        cls.study = os.path.join(cls.dir, "study.yaml")
        with open(cls.study, "w") as f:
            f.write(K8S_STUDY)
        cls.db = os.path.join(cls.dir, "hpt.db")
        cls.result = hpt("--db", cls.db, "run", "--runner", "kubernetes", "--kubeconfig",
                         cls.kubeconfig, "--queue", "team-a", cls.study)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stdin.close()
        cls.cluster.wait(timeout=30)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_study_succeeds_through_preemptions(self):
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)
        self.assertIn("study k8s-cli: SUCCEEDED (ExperimentMaxTrialsReached)", self.result.stdout)
        self.assertIn("preempted (PreemptionByScheduler); retry 1 of 3", self.result.stdout)
        r = hpt("--db", self.db, "leaderboard", "--format", "json", "--top", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)
        self.assertEqual(len(rows), 4)
        for row in rows:
            self.assertEqual(row["state"], "SUCCEEDED")

    def test_objective_is_read_from_the_pod_log(self):
        r = hpt("--db", self.db, "trials", "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        for t in csv.DictReader(io.StringIO(r.stdout)):
            show = json.loads(hpt("--db", self.db, "show", t["trial"], "--format", "json").stdout)
            self.assertEqual(show["manifest"]["kind"], "Job")
            self.assertEqual(show["manifest"]["metadata"]["namespace"], "ml")
            x = dict(show["params"])["x"] if isinstance(show["params"], list) else show["params"]["x"]
            self.assertAlmostEqual(show["metrics"]["loss"]["latest"], float(x))

    def test_bad_kubeconfig_is_a_clear_error(self):
        r = hpt("--db", os.path.join(self.dir, "other.db"), "run", "--runner", "kubernetes",
                "--kubeconfig", os.path.join(self.dir, "nope"), self.study)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hpt: --runner kubernetes:", r.stderr)
        self.assertIn(os.path.join(self.dir, "nope"), r.stderr)

    def test_bad_job_default_is_a_clear_error(self):
        r = hpt("--db", os.path.join(self.dir, "other.db"), "run", "--runner", "kubernetes",
                "--kubeconfig", self.kubeconfig, "--queue", "Team A", self.study)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hpt: --runner kubernetes:", r.stderr)
        self.assertIn("Team A", r.stderr)


def echo_study(name, script, parallel, max_trials):
    return studies.shell_experiment(name, script, parallel, max_trials)


class Daemon(unittest.TestCase):
    """hptd and the CLI's submit / status / watch / stop through its Unix socket."""

    @classmethod
    def setUpClass(cls):
        hptd = os.environ.get("HPT_HPTD")
        if not hptd:
            raise unittest.SkipTest("HPT_HPTD (the hptd binary) is not set")
        cls.dir = tempfile.mkdtemp(prefix="hpt_hptd_cli_")
        cls.db = os.path.join(cls.dir, "hpt.db")
        cls.hptd = subprocess.Popen([hptd, "--db", cls.db, "--listen", "127.0.0.1:0"],
                                    stderr=subprocess.PIPE, text=True)
        line = cls.hptd.stderr.readline()
        assert "studies on unix:" in line, line
        cls.socket = os.path.join(cls.dir, "hptd.sock")

    @classmethod
    def tearDownClass(cls):
        cls.hptd.terminate()
        cls.hptd.wait(timeout=30)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def study(self, name, script, parallel=2, max_trials=3):
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(echo_study(name, script, parallel, max_trials))
        return path

    def test_submit_and_watch_to_the_end(self):
        r = hpt("--db", self.db, "submit", "--watch",
                self.study("echo", "echo loss=${trialParameters.x}"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("hpt: submitted study echo", r.stdout)
        self.assertIn("study echo: SUCCEEDED (ExperimentMaxTrialsReached)", r.stdout)
        self.assertIn("3/3 done", r.stdout)
        status = hpt("--db", self.db, "status", "echo")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("trials: 3/3 finished (3 succeeded", status.stdout)
        listing = hpt("--db", self.db, "status")
        self.assertIn("echo", listing.stdout)
        # The same tracker file answers the local queries too.
        board = hpt("--db", self.db, "leaderboard", "echo", "--format", "json")
        self.assertEqual(len(json.loads(board.stdout)), 3)

    def test_stop_then_watch_says_stopped(self):
        path = self.study("sleepy", "sleep 30; echo loss=${trialParameters.x}")
        self.assertEqual(hpt("--db", self.db, "submit", path).returncode, 0)
        r = hpt("--db", self.db, "stop", "sleepy")
        self.assertEqual(r.returncode, 0, r.stderr)
        w = hpt("--db", self.db, "watch", "sleepy")
        self.assertEqual(w.returncode, 1, w.stdout + w.stderr)
        self.assertIn("FAILED (ExperimentStopped)", w.stdout)
        again = hpt("--db", self.db, "stop", "sleepy")
        self.assertEqual(again.returncode, 1)
        self.assertIn("is not running", again.stderr)

    def test_bad_study_and_unknown_names(self):
        bad = os.path.join(self.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nspec: [\n")
        r = hpt("--db", self.db, "submit", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.yaml:", r.stderr)
        r = hpt("--db", self.db, "status", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope", r.stderr)
        r = hpt("--db", self.db, "update", "nope")
        self.assertEqual(r.returncode, 2)

    def test_delete_asks_then_removes_everything(self):
        path = self.study("doomed", "echo loss=${trialParameters.x}")
        self.assertEqual(hpt("--db", self.db, "submit", "--watch", path).returncode, 0)
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "hpt-runs", "doomed")))
        r = subprocess.run([HPT, "--db", self.db, "delete", "doomed"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("pass --yes", r.stderr)
        r = hpt("--db", self.db, "delete", "doomed", "--yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("deleted study doomed and its 3 trials", r.stdout)
        self.assertEqual(hpt("--db", self.db, "status", "doomed").returncode, 1)
        self.assertFalse(os.path.isdir(os.path.join(self.dir, "hpt-runs", "doomed")))
        board = hpt("--db", self.db, "leaderboard", "doomed")
        self.assertNotEqual(board.returncode, 0)
        # A running study needs --force.
        path = self.study("running", "sleep 30; echo loss=${trialParameters.x}")
        self.assertEqual(hpt("--db", self.db, "submit", path).returncode, 0)
        r = hpt("--db", self.db, "delete", "running", "--yes")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is running", r.stderr)
        r = hpt("--db", self.db, "delete", "running", "--yes", "--force")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_daemon_is_a_clear_error(self):
        r = hpt("--db", os.path.join(self.dir, "elsewhere", "hpt.db"), "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach hptd at unix:", r.stderr)


AUC_TRIGGER = """apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: {name}
spec:
  watch:
    model: {{project: {project}, metric: auc}}
  condition:
    below: 0.9
  cooldown: 1h
  action:
    retrainTrial: {{study: champ}}
"""


class Triggers(unittest.TestCase):
    """Retraining triggers end to end: hpt trigger apply / list / history / evaluate / delete and
    hpt report against a real hptd evaluating every 0.2 s, which retrains and submits studies."""

    @classmethod
    def setUpClass(cls):
        cls.hptd_path = os.environ.get("HPT_HPTD")
        if not cls.hptd_path:
            raise unittest.SkipTest("HPT_HPTD (the hptd binary) is not set")
        cls.dir = tempfile.mkdtemp(prefix="hpt_triggers_cli_")
        cls.db = os.path.join(cls.dir, "hpt.db")
        cls.hptd = None
        cls.start_hptd()
        # The champion's study: its best trial is what retrainTrial runs again.
        path = os.path.join(cls.dir, "champ.yaml")
        with open(path, "w") as f:
            f.write(echo_study("champ", "echo loss=${trialParameters.x}", 2, 4))
        r = hpt("--db", cls.db, "submit", "--watch", path)
        assert r.returncode == 0, r.stdout + r.stderr
        board = hpt("--db", cls.db, "leaderboard", "champ", "--format", "json", "--top", "1")
        assert board.returncode == 0, board.stderr
        cls.best = json.loads(board.stdout)[0]

    @classmethod
    def start_hptd(cls):
        """Starts hptd on the class's db (again after stop_hptd: a restart)."""
        cls.log = open(os.path.join(cls.dir, "hptd.log"), "a")
        cls.hptd = subprocess.Popen([cls.hptd_path, "--db", cls.db, "--listen", "127.0.0.1:0",
                                     "--trigger-interval", "0.2"],
                                    stderr=cls.log, stdin=subprocess.DEVNULL)
        socket = os.path.join(cls.dir, "hptd.sock")
        for _ in range(600):
            if hpt("--db", cls.db, "status").returncode == 0:
                return
            assert cls.hptd.poll() is None, "hptd exited: " + cls.read_log()
            time.sleep(0.05)
        raise AssertionError("hptd did not serve " + socket + ": " + cls.read_log())

    @classmethod
    def stop_hptd(cls):
        cls.hptd.terminate()
        cls.hptd.wait(timeout=30)
        cls.log.close()

    @classmethod
    def read_log(cls):
        with open(os.path.join(cls.dir, "hptd.log")) as f:
            return f.read()

    @classmethod
    def tearDownClass(cls):
        if cls.hptd is not None:
            cls.stop_hptd()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def ok(self, *args):
        r = hpt("--db", self.db, *args)
        self.assertEqual(r.returncode, 0, f"hpt {' '.join(args)}: {r.stdout}{r.stderr}")
        return r

    def history(self, name=""):
        args = ["trigger", "history", "--format", "json"] + ([name] if name else [])
        return json.loads(self.ok(*args).stdout)

    def listed(self, name):
        rows = [t for t in json.loads(self.ok("trigger", "list", "--format", "json").stdout)
                if t["name"] == name]
        self.assertEqual(len(rows), 1)
        return rows[0]

    def until(self, what, check, timeout=30):
        """Polls check() (its value when truthy) until `timeout` seconds; fails naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}; hptd log:\n{self.read_log()[-3000:]}")
            time.sleep(0.1)

    def evaluated(self, name, value):
        """Waits until hptd's thread has evaluated `name` with the last value `value`."""
        self.until(f"trigger {name} to evaluate {value}",
                   lambda: self.listed(name)["value"] == value)

    def test_retrain_once_per_cooldown_across_restarts(self):
        path = self.write("auc-drop.yaml", AUC_TRIGGER.format(name="auc-drop", project="fraud"))
        r = self.ok("trigger", "apply", path)
        self.assertRegex(r.stdout, r"^trigger auc-drop created: .+\n$")
        self.assertEqual(r.stderr, "")
        r = self.ok("trigger", "apply", path)
        self.assertRegex(r.stdout, r"^trigger auc-drop configured: ")
        row = self.listed("auc-drop")
        self.assertIsNone(row["fired_ms"])
        self.assertIn("0.9", row["summary"])

        self.assertEqual(self.ok("report", "--project", "fraud", "auc=0.95").stdout,
                         "stored 1 point\n")
        self.evaluated("auc-drop", 0.95)
        self.assertEqual(self.history("auc-drop"), [])
        self.assertEqual(self.ok("trigger", "history", "auc-drop").stdout,
                         "trigger auc-drop never fired\n")

        self.ok("report", "--project", "fraud", "auc=0.8")
        firings = self.until("a DONE firing", lambda: [
            f for f in self.history("auc-drop") if f["state"] == "DONE"])
        self.assertEqual(len(firings), 1, firings)
        f = firings[0]
        self.assertEqual(f["trigger"], "auc-drop")
        self.assertEqual(f["value"], 0.8)
        self.assertEqual(f["action"], "retrainTrial")
        self.assertRegex(f["result"], r"^champ-retrain-\d+$")
        retrain = f["result"]
        self.assertEqual(self.history(), firings)  # every trigger's history: the same one

        # The retraining study: one trial with the champion's parameters.
        w = hpt("--db", self.db, "watch", retrain)
        self.assertEqual(w.returncode, 0, w.stdout + w.stderr)
        trials = json.loads(self.ok("trials", retrain, "--format", "json").stdout)
        self.assertEqual(len(trials), 1)
        self.assertEqual(trials[0]["state"], "SUCCEEDED")
        self.assertEqual(trials[0]["x"], self.best["x"])
        row = self.listed("auc-drop")
        self.assertEqual(row["state"], "DONE")
        self.assertEqual(row["result"], retrain)

        # The cooldown (1h): nothing more fires, also after a restart.
        self.ok("report", "--project", "fraud", "auc=0.7")
        self.evaluated("auc-drop", 0.7)
        self.assertEqual(self.ok("trigger", "evaluate").stdout, "no trigger fired\n")
        self.assertEqual(len(self.history("auc-drop")), 1)
        self.stop_hptd()
        self.start_hptd()
        self.ok("report", "--project", "fraud", "auc=0.6")
        self.evaluated("auc-drop", 0.6)
        self.assertEqual(self.ok("trigger", "evaluate").stdout, "no trigger fired\n")
        self.assertEqual([h["id"] for h in self.history("auc-drop")], [f["id"]])

        r = self.ok("trigger", "delete", "auc-drop")
        self.assertEqual(r.stdout, "trigger auc-drop deleted\n")
        r = hpt("--db", self.db, "trigger", "history", "auc-drop")
        self.assertEqual(r.returncode, 1)
        self.assertIn("auc-drop", r.stderr)

    def test_scheduled_submit_study_warm_started(self):
        self.write("fresh.yaml", echo_study("fresh", "echo loss=${trialParameters.x}", 1, 2))
        path = self.write("nightly.yaml", """apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: nightly
spec:
  condition:
    schedule: {every: 1s}
  cooldown: 0
  action:
    submitStudy:
      file: fresh.yaml
      warmStartFrom: [champ]
""")
        r = self.ok("trigger", "apply", path)
        self.assertRegex(r.stdout, r"^trigger nightly created: ")
        # It fires every second (cooldown 0): wait for two firings, then delete it.
        firings = self.until("two DONE firings", lambda: (lambda done: done if len(done) >= 2
                                                          else None)(
            [f for f in self.history("nightly") if f["state"] == "DONE"]))
        self.ok("trigger", "delete", "nightly")
        for f in firings:
            self.assertEqual(f["action"], "submitStudy")
            self.assertEqual(f["result"], f"fresh-t{int(f['id'])}")
        self.assertEqual(len({f["result"] for f in firings}), len(firings))
        first = firings[0]["result"]
        w = hpt("--db", self.db, "watch", first)
        self.assertEqual(w.returncode, 0, w.stdout + w.stderr)
        trials = json.loads(self.ok("trials", first, "--format", "json").stdout)
        self.assertEqual(len(trials), 2)
        # Warm-started from champ: the study's WarmStart event names it.
        doc = json.loads(self.ok("export", first).stdout)
        warm = [e["message"] for e in doc["events"] if e["kind"] == "WarmStart"]
        self.assertEqual(len(warm), 1, doc["events"])
        self.assertIn("champ", warm[0])
        r = hpt("--db", self.db, "trigger", "history", "nightly")
        self.assertEqual(r.returncode, 1)

    def python_report(self, code):
        """Runs `code` with hpt_client importable and HPT_SERVER at this hptd."""
        build = os.path.dirname(os.path.dirname(HPT))
        env = dict(os.environ,
                   PYTHONPATH=os.pathsep.join([os.path.join(build, "python"),
                                               os.path.join(SRC, "client", "python")]),
                   HPT_SERVER="unix:" + os.path.join(self.dir, "hptd.sock"))
        return subprocess.run(["/usr/bin/python3", "-c", "import hpt_client\n" + code],
                              env=env, capture_output=True, text=True, timeout=60)

    def test_python_client_reports_a_deployed_models_metrics(self):
        path = self.write("py-watch.yaml", AUC_TRIGGER.format(name="py-watch", project="py"))
        self.ok("trigger", "apply", path)
        r = self.python_report(
            "print(hpt_client.report_model('py', {'auc': 0.97, 'latency_ms': 12}, model='v9'))")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "2\n")
        self.evaluated("py-watch", 0.97)  # the trigger saw the point
        r = self.python_report("hpt_client.report_model('py', {'auc': float('nan')})")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ValueError: metric 'auc': value is nan", r.stderr)
        r = self.python_report("hpt_client.report_model('', {'auc': 1})")
        self.assertIn("ValueError: project is required", r.stderr)
        r = self.python_report(
            "hpt_client.report_model('py', {'auc': 1}, server='unix:/nonexistent/hptd.sock',"
            " timeout=5)")
        self.assertIn("HptError", r.stderr)
        self.assertIn("UNAVAILABLE", r.stderr)
        self.ok("trigger", "delete", "py-watch")

    def test_bad_trigger_files_and_reports(self):
        # An error in the file: the user's path with line:column, before hptd is asked.
        bad = self.write("bad.yaml", AUC_TRIGGER.format(name="bad", project="fraud").replace(
            "cooldown: 1h", "cooldown: 5x"))
        r = hpt("--db", self.db, "trigger", "apply", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn(bad + ":10:13: error: spec.cooldown:", r.stderr)
        self.assertEqual(r.stdout, "")
        r = hpt("--db", self.db, "trigger", "apply", os.path.join(self.dir, "absent.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("absent.yaml", r.stderr)
        # A study file that cannot be read: the trigger's field is named.
        missing = self.write("missing.yaml", AUC_TRIGGER.format(name="m", project="fraud").replace(
            "retrainTrial: {study: champ}", "submitStudy: {file: no-such-study.yaml}"))
        r = hpt("--db", self.db, "trigger", "apply", missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn("spec.action.submitStudy.file", r.stderr)
        self.assertIn("no-such-study.yaml", r.stderr)
        # hptd refuses a watch of a study it does not have.
        watch = self.write("watch.yaml", """apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata: {name: watcher}
spec:
  watch: {study: {name: missing-study}}
  condition: {newBest: {}}
  action: {retrainTrial: {}}
""")
        r = hpt("--db", self.db, "trigger", "apply", watch)
        self.assertEqual(r.returncode, 1)
        self.assertIn('no study "missing-study"', r.stderr)
        names = [t["name"] for t in json.loads(self.ok("trigger", "list", "--format",
                                                       "json").stdout)]
        self.assertNotIn("bad", names)
        self.assertNotIn("watcher", names)
        self.assertNotIn("m", names)
        # Malformed reports exit 2 and say which argument and the form expected.
        for arg in ["auc", "=0.5", "auc=abc", "auc=nan", "auc="]:
            r = hpt("--db", self.db, "report", "--project", "fraud", arg)
            self.assertEqual(r.returncode, 2, arg)
            self.assertIn(f'"{arg}" is not NAME=VALUE', r.stderr)
        r = hpt("--db", self.db, "report", "auc=0.5")  # no --project
        self.assertEqual(r.returncode, 2)
        r = hpt("--db", self.db, "trigger", "delete", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope", r.stderr)
        r = hpt("--db", self.db, "trigger", "history", "--limit", "-1")
        self.assertEqual(r.returncode, 2)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA (openssl)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["openssl", "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=hpt-cli-test-ca"],
        ["openssl", "req", "-x509", *key, "-keyout", "other.key", "-out", "other.crt", "-days",
         "2", "-subj", "/CN=hpt-cli-other-ca"],
        ["openssl", "req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj",
         "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt"],
    ]
    for step in steps:
        if subprocess.run(step, cwd=d, capture_output=True).returncode != 0:
            return False
    return True


REPORTER = """import sys
import hpt_client
hpt_client.report({"loss": float(sys.argv[1])}, step=1, final=True)
"""


class DaemonOverTls(unittest.TestCase):
    """hptd set up from a --config file, serving its metrics and StudyService ports over TLS
    only (no Unix socket): the CLI and the trials (hpt_client in Python, with HPT_TLS_CA from
    hptd's environment) both go through TLS, and plaintext or unverified callers are refused."""

    @classmethod
    def setUpClass(cls):
        hptd = os.environ.get("HPT_HPTD")
        if not hptd:
            raise unittest.SkipTest("HPT_HPTD (the hptd binary) is not set")
        cls.dir = tempfile.mkdtemp(prefix="hpt_hptd_tls_")
        if not make_certs(cls.dir):
            raise unittest.SkipTest("the openssl command could not make certificates")
        cls.db = os.path.join(cls.dir, "hpt.db")
        cls.token = os.path.join(cls.dir, "admin-token")
        with open(cls.token, "w") as f:
            f.write("tls-test-admin-token-0123456789\n")
        cls.config = os.path.join(cls.dir, "hptd.toml")
        with open(cls.config, "w") as f:
            f.write(f"""# hptd settings
db = "{cls.db}"
listen = "127.0.0.1:0"
admin-socket = ""
admin-listen = "127.0.0.1:0"
admin-token-file = "{cls.token}"
tls-cert = "{os.path.join(cls.dir, 'server.crt')}"
tls-key = "{os.path.join(cls.dir, 'server.key')}"
""")
        env = dict(os.environ, HPT_TLS_CA=os.path.join(cls.dir, "ca.crt"))
        cls.hptd = subprocess.Popen([hptd, "--config", cls.config], stderr=subprocess.PIPE,
                                    text=True, env=env)
        line = cls.hptd.stderr.readline()
        assert " and port " in line, line
        cls.server = "127.0.0.1:" + line.split(" and port ")[1].split(";")[0]
        cls.reporter = os.path.join(cls.dir, "report.py")
        with open(cls.reporter, "w") as f:
            f.write(REPORTER)

    @classmethod
    def tearDownClass(cls):
        cls.hptd.terminate()
        cls.hptd.wait(timeout=30)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def remote(self, *args, ca="ca.crt"):
        tls = ["--tls-ca", os.path.join(self.dir, ca)] if ca else []
        return hpt(*args, "--server", self.server, "--token-file", self.token, *tls)

    def test_cli_and_trials_over_tls(self):
        path = os.path.join(self.dir, "tls.yaml")
        with open(path, "w") as f:
            f.write(echo_study("tls", f"/usr/bin/python3 {self.reporter} ${{trialParameters.x}}",
                               2, 3))
        r = self.remote("submit", "--watch", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("study tls: SUCCEEDED (ExperimentMaxTrialsReached)", r.stdout)
        self.assertIn("3 succeeded", self.remote("status", "tls").stdout)
        board = hpt("--db", self.db, "leaderboard", "tls", "--format", "json")
        self.assertEqual(len(json.loads(board.stdout)), 3, board.stdout + board.stderr)

    def test_plaintext_and_unverified_callers_are_refused(self):
        r = self.remote("status", ca=None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach hptd", r.stderr)
        r = self.remote("status", ca="other.crt")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach hptd", r.stderr)
        self.assertEqual(self.remote("status").returncode, 0)

    def test_bad_tls_settings_are_clear_errors(self):
        hptd = os.environ["HPT_HPTD"]
        r = subprocess.run([hptd, "--config", self.config, "--db",
                            os.path.join(self.dir, "other.db"), "--tls-cert", "/no/such.crt"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn('TLS certificate "/no/such.crt": cannot read it', r.stderr)
        r = subprocess.run([hptd, "--db", os.path.join(self.dir, "other.db"), "--tls-cert",
                            os.path.join(self.dir, "server.crt")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--tls-key", r.stderr)
        r = self.remote("status", ca="missing.crt")
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.crt", r.stderr)


class Compare(unittest.TestCase):
    """hpt compare / history / export / import over one quickstart run."""

    SPARK = set("▁▂▃▄▅▆▇█")

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hpt_compare_")
        cls.db = os.path.join(cls.dir, "hpt.db")
        run = hpt("--db", cls.db, "run", os.path.join(SRC, "examples/quickstart/study.yaml"))
        if run.returncode != 0:
            raise AssertionError("quickstart run failed:\n" + run.stdout + run.stderr)
        cls.export = os.path.join(cls.dir, "quickstart.json")
        r = hpt("--db", cls.db, "export", "quickstart", "--output", cls.export)
        if r.returncode != 0:
            raise AssertionError("export failed:\n" + r.stderr)
        with open(cls.export) as f:
            cls.doc = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def q(self, *args):
        return hpt("--db", self.db, *args)

    def show(self, trial):
        r = self.q("show", trial, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def write(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def studies(self, db=None):
        r = hpt("--db", db or self.db, "studies", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [row["study"] for row in json.loads(r.stdout)]

    # --- compare ---

    def test_compare_json_shape_and_values(self):
        names = ["quickstart-00001", "quickstart-00002", "quickstart-00003"]
        r = self.q("compare", *names, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["trials"], names)
        rows = {row["field"]: row for row in out["rows"]}
        params = [p["name"] for p in self.doc["trials"][0]["params"]]  # the trial's order
        self.assertEqual(
            [row["field"] for row in out["rows"]],
            ["study", "state", "attempt", "seed", "objective"] + [f"param {p}" for p in params] +
            ["loss latest", "loss best", "loss count", "accuracy latest", "accuracy min",
             "accuracy max", "accuracy count"])
        for row in out["rows"]:
            self.assertEqual(len(row["values"]), 3, row)
            self.assertEqual(row["differs"], len({json.dumps(v) for v in row["values"]}) > 1, row)
        self.assertEqual(rows["study"]["values"], ["quickstart"] * 3)
        self.assertFalse(rows["study"]["differs"])
        self.assertEqual(rows["param lr"]["kind"], "param")
        self.assertEqual(rows["param lr"]["name"], "lr")
        self.assertEqual(rows["loss best"]["stat"], "best")
        for i, name in enumerate(names):
            info = self.show(name)
            self.assertEqual(rows["seed"]["values"][i], info["seed"])
            self.assertEqual(rows["objective"]["values"][i], info["objective"])
            for p, v in info["params"].items():
                self.assertEqual(rows[f"param {p}"]["values"][i], v)
            loss, acc = info["metrics"]["loss"], info["metrics"]["accuracy"]
            self.assertEqual(rows["loss latest"]["values"][i], loss["latest"])
            self.assertEqual(rows["loss best"]["values"][i], loss["min"])  # minimize
            self.assertEqual(rows["loss count"]["values"][i], loss["count"])
            self.assertEqual(rows["accuracy min"]["values"][i], acc["min"])
            self.assertEqual(rows["accuracy max"]["values"][i], acc["max"])

    def test_compare_table_marks_differences(self):
        r = self.q("compare", "quickstart-00001", "quickstart-00002")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^\s+field\s+quickstart-00001\s+quickstart-00002$")
        by_field = {}
        for line in lines[2:]:
            if line.startswith("("):
                continue
            by_field[line[3:].split("  ")[0]] = line
        self.assertTrue(by_field["study"].startswith("   study "), by_field["study"])
        self.assertTrue(by_field["seed"].startswith("*  seed "), by_field["seed"])
        a, b = self.show("quickstart-00001")["params"], self.show("quickstart-00002")["params"]
        for p in a:
            marker = "*" if a[p] != b[p] else " "
            self.assertEqual(by_field[f"param {p}"][0], marker, by_field[f"param {p}"])
        self.assertIn("(* marks the rows whose values differ)", r.stdout)

    def test_compare_csv(self):
        r = self.q("compare", "quickstart-00003", "quickstart-00004", "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.reader(io.StringIO(r.stdout)))
        self.assertEqual(rows[0], ["differs", "field", "quickstart-00003", "quickstart-00004"])
        fields = {row[1]: row for row in rows[1:]}
        self.assertEqual(fields["study"], ["", "study", "quickstart", "quickstart"])
        self.assertEqual(fields["seed"][0], "*")
        self.assertEqual(fields["seed"][2], str(self.show("quickstart-00003")["seed"]))

    def test_compare_bad_input(self):
        r = self.q("compare", "quickstart-00001", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no trial "nope" in', r.stderr)
        r = self.q("compare", "nope", "quickstart-00001", "nope2")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no trials "nope", "nope2" in', r.stderr)
        for args in (["quickstart-00001"], [], ["quickstart-00001", "quickstart-00002",
                                                "--format", "yaml"]):
            with self.subTest(args=args):
                r = self.q("compare", *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")

    # --- history ---

    def test_history_csv_has_every_point_in_insertion_order(self):
        metrics = self.show("quickstart-00005")["metrics"]
        r = self.q("history", "quickstart-00005", "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(rows), sum(m["count"] for m in metrics.values()))
        for name, m in metrics.items():
            mine = [row for row in rows if row["metric"] == name]
            self.assertEqual(len(mine), m["count"])
            self.assertEqual(float(mine[-1]["value"]), m["latest"])
            self.assertEqual(int(mine[-1]["step"]), m["last_step"])
            self.assertEqual(min(float(row["value"]) for row in mine), m["min"])
        times = [int(row["time_ms"]) for row in rows]
        self.assertEqual(times, sorted(times))  # one reporter: insertion order is time order
        only = self.q("history", "quickstart-00005", "--metric", "loss", "--format", "json")
        self.assertEqual(only.returncode, 0, only.stderr)
        points = json.loads(only.stdout)
        self.assertEqual(len(points), metrics["loss"]["count"])
        self.assertEqual({p["metric"] for p in points}, {"loss"})
        self.assertIsInstance(points[0]["step"], int)
        self.assertIsInstance(points[0]["value"], float)

    def test_history_table_ends_with_sparklines(self):
        metrics = self.show("quickstart-00006")["metrics"]
        r = self.q("history", "quickstart-00006")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("metric"), r.stdout)
        tail = r.stdout.rstrip("\n").split("\n\n")[-1].splitlines()
        self.assertEqual(sorted(line.split()[0] for line in tail), sorted(metrics))
        for line in tail:
            name, spark = line.split()[:2]
            self.assertTrue(spark and set(spark) <= self.SPARK, line)
            self.assertEqual(len(spark), metrics[name]["count"])  # fewer than 60 points
            self.assertIn(f"({metrics[name]['count']} points)", line)

    def test_history_bad_input(self):
        r = self.q("history", "quickstart-00001", "--metric", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn('trial "quickstart-00001" has no metric "nope"; its metrics: accuracy, loss',
                      r.stderr)
        r = self.q("history", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no trial "nope"', r.stderr)
        self.assertEqual(self.q("history").returncode, 2)
        self.assertEqual(self.q("history", "quickstart-00001", "--format", "xml").returncode, 2)

    # --- export / import ---

    def test_export_json_holds_the_study(self):
        doc = self.doc
        self.assertEqual(doc["format"], "hpt.export/v1")
        self.assertEqual(list(doc), ["format", "study", "trials", "events"])
        self.assertEqual(doc["study"]["name"], "quickstart")
        self.assertEqual(doc["study"]["objective_metric"], "loss")
        self.assertIn("kind: Experiment", doc["study"]["spec_yaml"])
        self.assertEqual(len(doc["trials"]), 12)
        for t in doc["trials"]:
            info = self.show(t["name"])
            self.assertEqual({p["name"]: p["value"] for p in t["params"]}, info["params"])
            self.assertEqual(t["objective"], info["objective"])
            self.assertEqual(t["seed"], info["seed"])
            self.assertEqual(len(t["metrics"]), sum(m["count"] for m in info["metrics"].values()))
        self.assertTrue(doc["events"])
        names = {t["name"] for t in doc["trials"]}
        self.assertTrue(all(e["trial"] is None or e["trial"] in names for e in doc["events"]))
        stdout = self.q("export", "quickstart")
        self.assertEqual(stdout.returncode, 0, stdout.stderr)
        self.assertEqual(json.loads(stdout.stdout), doc)  # the same to stdout, and deterministic

    def test_export_csv_one_row_per_trial(self):
        r = self.q("export", "--format", "csv")  # the only study in the file
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(rows), 12)
        self.assertEqual(list(rows[0])[:3], ["trial", "state", "objective"])
        for row in rows[:3]:
            info = self.show(row["trial"])
            self.assertEqual(float(row["loss"]), info["metrics"]["loss"]["latest"])
            self.assertEqual(float(row["objective"]), info["objective"])
            for p, v in info["params"].items():
                self.assertEqual(row[p], v)

    def test_round_trip_under_a_new_name(self):
        db = os.path.join(self.dir, "copy.db")
        r = hpt("--db", db, "import", self.export, "--name", "copy")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"imported study copy (exported as quickstart) into {db}: "
                                   f"12 trials, {sum(len(t['metrics']) for t in self.doc['trials'])}"
                                   f" metric points, {len(self.doc['events'])} events\n")
        r = hpt("--db", db, "export", "copy")
        self.assertEqual(r.returncode, 0, r.stderr)
        back = json.loads(r.stdout)
        expected = json.loads(json.dumps(self.doc))
        expected["study"]["name"] = "copy"
        for t in expected["trials"]:
            t["name"] = t["name"].replace("quickstart-", "copy-", 1)
        for e in expected["events"]:
            if e["trial"]:
                e["trial"] = e["trial"].replace("quickstart-", "copy-", 1)
        self.assertEqual(back, expected)
        # The views read the copy like the original.
        a = json.loads(self.q("leaderboard", "quickstart", "--format", "json").stdout)
        b = json.loads(hpt("--db", db, "leaderboard", "copy", "--format", "json").stdout)
        self.assertEqual([row["loss"] for row in a], [row["loss"] for row in b])
        self.assertEqual([row["trial"].replace("quickstart-", "copy-") for row in a],
                         [row["trial"] for row in b])

    def test_round_trip_under_the_same_name(self):
        db = os.path.join(self.dir, "same.db")
        r = hpt("--db", db, "import", self.export)
        self.assertEqual(r.returncode, 0, r.stderr)
        back = json.loads(hpt("--db", db, "export").stdout)
        self.assertEqual(back, self.doc)
        # Imported into the same file twice: the name is taken now.
        again = hpt("--db", db, "import", self.export)
        self.assertEqual(again.returncode, 1)
        self.assertIn('a study named "quickstart" already exists', again.stderr)
        self.assertIn("--name NEW_NAME", again.stderr)

    def test_import_refuses_a_taken_name(self):
        r = self.q("import", self.export)
        self.assertEqual(r.returncode, 1)
        self.assertIn('a study named "quickstart" already exists; import it under another name '
                      'with --name NEW_NAME', r.stderr)
        doc = json.loads(json.dumps(self.doc))
        doc["study"]["name"] = "fresh"  # its trials keep their taken names
        r = self.q("import", self.write("fresh.json", doc))
        self.assertEqual(r.returncode, 1)
        self.assertIn('trial "quickstart-00001" (trials[0]) already exists in study "quickstart"',
                      r.stderr)
        self.assertEqual(self.studies(), ["quickstart"])  # nothing left behind

    def test_import_refuses_bad_files_with_the_json_path(self):
        def broken(edit):
            doc = json.loads(json.dumps(self.doc))
            edit(doc)
            return doc
        cases = [
            ("notjson.json", '{"format": "hpt.export/v1",\n "study": }',
             "not valid JSON: parse error at line 2, column 11"),
            ("v9.json", broken(lambda d: d.update(format="hpt.export/v9")),
             'format: "hpt.export/v9" is not supported by this hpt, which reads "hpt.export/v1"'),
            ("noformat.json", broken(lambda d: d.pop("format")), "format: required field missing"),
            ("value.json", broken(lambda d: d["trials"][2]["metrics"][3].update(value="abc")),
             'trials[2].metrics[3].value: expected a number, got string "abc"'),
            ("state.json", broken(lambda d: d["trials"][1].update(state="DONE")),
             'trials[1].state: "DONE" is not a state; allowed: PENDING, RUNNING'),
            ("field.json", broken(lambda d: d["study"].update(colour="red")),
             "study.colour: unknown field; allowed: name, project"),
            ("event.json", broken(lambda d: d["events"][0].update(trial="ghost")),
             'events[0].trial: no trial "ghost" in this export'),
        ]
        for name, doc, message in cases:
            with self.subTest(name):
                db = os.path.join(self.dir, "bad-" + name + ".db")
                path = self.write(name, doc)
                r = hpt("--db", db, "import", path, "--name", "x")
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(f"hpt: {path}: {message}", r.stderr)
                self.assertFalse(os.path.exists(db))  # refused before the file is opened
        r = self.q("import", os.path.join(self.dir, "missing.json"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.json", r.stderr)

    def test_export_and_import_usage(self):
        r = self.q("export", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no study "nope"; studies: quickstart', r.stderr)
        self.assertEqual(self.q("export", "--format", "table").returncode, 2)
        self.assertEqual(self.q("import").returncode, 2)
        self.assertEqual(self.q("import", self.export, "--name", "").returncode, 2)
        r = hpt("--db", os.path.join(self.dir, "none.db"), "export")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no tracker file", r.stderr)


class CrossStudyLeaderboard(unittest.TestCase):
    """hpt leaderboard across studies, over studies imported with known values (hpt.export/v1)."""

    # (study, project, experiment, maximize, objective metric, trials); each trial is
    # (name, optimizer, lr, [acc points by step 0, 10, 20, ...]); the objective is the best point.
    STUDIES = [
        ("fa", "fraud", "prod", True, "acc", [
            ("fa-1", "adam", "0.1", [0.5, 0.7, 0.6]),
            ("fa-2", "sgd", "0.1", [0.4, 0.9]),
            ("fa-3", "adam", "0.01", [0.8]),
        ]),
        ("fb", "fraud", "prod", True, "acc", [
            ("fb-1", "adam", "0.1", [0.65, 0.75]),
            ("fb-2", "sgd", "0.1", [0.3, 0.35, 0.95]),
        ]),
        ("ads", "ads", "", True, "acc", [
            ("ads-1", "adam", "0.1", [0.2]),
            ("ads-2", "sgd", "0.1", [0.1, 0.3]),
        ]),
    ]

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hpt_ranked_")
        cls.db = os.path.join(cls.dir, "hpt.db")
        for name, project, experiment, maximize, metric, trials in cls.STUDIES:
            doc = {"format": "hpt.export/v1",
                   "study": {"name": name, "project": project, "experiment": experiment,
                             "objective_metric": metric, "maximize": maximize,
                             "state": "SUCCEEDED", "algorithm": "random"},
                   "trials": [{"name": t, "state": "SUCCEEDED",
                               "params": [{"name": "optimizer", "value": opt},
                                          {"name": "lr", "value": lr}],
                               "objective": max(points), "attempt": 1,
                               "metrics": [{"name": metric, "step": 10 * i, "value": v,
                                            "time_ms": 1000 + i}
                                           for i, v in enumerate(points)]}
                              for t, opt, lr, points in trials]}
            path = os.path.join(cls.dir, name + ".json")
            with open(path, "w") as f:
                json.dump(doc, f)
            r = hpt("--db", cls.db, "import", path)
            if r.returncode != 0:
                raise AssertionError("import failed:\n" + r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def rows(self, *args):
        r = hpt("--db", self.db, "leaderboard", "--format", "json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_several_studies_rank_per_project_and_experiment(self):
        rows = self.rows("--top", "2")  # no study named, several in the file: all of them
        # (An empty cell, here the experiment of "ads", is null in JSON.)
        self.assertEqual([(r["project"], r["experiment"], r["rank"], r["trial"], r["value"])
                          for r in rows],
                         [("ads", None, 1, "ads-2", 0.3), ("ads", None, 2, "ads-1", 0.2),
                          ("fraud", "prod", 1, "fb-2", 0.95), ("fraud", "prod", 2, "fa-2", 0.9)])
        self.assertEqual({r["ranked_by"] for r in rows}, {"acc"})
        self.assertEqual(rows[2]["study"], "fb")
        self.assertEqual(rows[2]["optimizer"], "sgd")
        table = hpt("--db", self.db, "leaderboard", "--project", "fraud", "--top", "3")
        self.assertEqual(table.returncode, 0, table.stderr)
        lines = table.stdout.splitlines()
        self.assertEqual(lines[0],
                         "project fraud, experiment prod: top 3 by acc, largest first")
        self.assertEqual(lines[1].split(), ["rank", "study", "trial", "state", "acc", "optimizer",
                                            "lr", "duration"])
        self.assertEqual([line.split()[2] for line in lines[3:]], ["fb-2", "fa-2", "fa-3"])

    def test_metric_strategies_and_best_at_step(self):
        def ranked(*args):
            return [(r["trial"], r["value"]) for r in self.rows("--project", "fraud", "--top",
                                                                  "0", *args)]
        self.assertEqual(ranked("--metric", "acc", "--strategy", "latest", "--order", "desc"),
                         [("fb-2", 0.95), ("fa-2", 0.9), ("fa-3", 0.8), ("fb-1", 0.75),
                          ("fa-1", 0.6)])
        self.assertEqual(ranked("--metric", "acc", "--strategy", "min"),  # min: smallest first
                         [("fb-2", 0.3), ("fa-2", 0.4), ("fa-1", 0.5), ("fb-1", 0.65),
                          ("fa-3", 0.8)])
        # The best value up to step 10: fb-2 had only reached 0.35 there.
        self.assertEqual(ranked("--metric", "acc", "--strategy", "best-at-step", "--step", "10",
                                "--order", "desc"),
                         [("fa-2", 0.9), ("fa-3", 0.8), ("fb-1", 0.75), ("fa-1", 0.7),
                          ("fb-2", 0.35)])
        self.assertEqual({r["ranked_by"] for r in self.rows(
            "--metric", "acc", "--strategy", "best-at-step", "--step", "10", "--order", "desc")},
            {"max(acc)@10"})

    def test_group_by_params_gives_count_mean_std(self):
        rows = self.rows("--project", "fraud", "--group-by", "params.optimizer")
        self.assertEqual([(r["params.optimizer"], r["count(value)"]) for r in rows],
                         [("sgd", 2), ("adam", 3)])
        sgd, adam = rows
        self.assertAlmostEqual(sgd["mean(value)"], 0.925, places=12)
        self.assertAlmostEqual(sgd["std(value)"], 0.0353553390593274, places=12)
        self.assertEqual((sgd["min(value)"], sgd["max(value)"]), (0.9, 0.95))
        self.assertEqual(sgd["best trial"], "fb-2")
        self.assertAlmostEqual(adam["mean(value)"], 0.75, places=12)
        self.assertAlmostEqual(adam["std(value)"], 0.05, places=12)
        self.assertEqual(adam["best trial"], "fa-3")
        two = self.rows("--all", "--group-by", "params.optimizer,params.lr", "--filter",
                        "project = 'ads'")
        self.assertEqual([(r["params.optimizer"], r["params.lr"], r["count(value)"],
                           r["std(value)"]) for r in two],
                         [("sgd", "0.1", 1, None), ("adam", "0.1", 1, None)])
        csv_out = hpt("--db", self.db, "leaderboard", "--format", "csv", "--project", "ads",
                      "--group-by", "params.optimizer")
        self.assertEqual(csv_out.stdout.splitlines()[0],
                         "project,experiment,ranked_by,rank,params.optimizer,count(value),"
                         "mean(value),std(value),min(value),max(value),best trial")

    def test_bad_options_say_what_is_allowed(self):
        for args, message in [
            (["--metric", "acc"], "--metric acc: say which end is best with --order desc"),
            (["--strategy", "latest"], "--strategy latest ranks a metric; name it with --metric"),
            (["--metric", "acc", "--strategy", "best-at-step", "--order", "desc"],
             "--strategy best-at-step needs --step N"),
            (["--metric", "acc", "--strategy", "latest"], "--strategy latest: say which end"),
            (["--order", "up"], '--order "up"; allowed: desc (largest first), asc'),
            (["--strategy", "median", "--metric", "acc"],
             '--strategy "median"; allowed: objective, min, max, latest, best-at-step'),
            (["--step", "3"], "--step applies only to --strategy best-at-step"),
            (["--group-by", "optimizer"],
             '--group-by "optimizer": group by parameters, as params.NAME'),
            (["--all", "--filter", "state = 'DONE'"], "DONE"),
            (["nope", "--metric", "acc", "--order", "desc"], 'no study "nope"; studies: fa, fb, ads'),
            (["--all", "--format", "yaml"], 'unknown --format "yaml"'),
        ]:
            r = hpt("--db", self.db, "leaderboard", *args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(message, r.stderr, args)

    def test_studies_that_rank_different_objectives_are_refused(self):
        doc = {"format": "hpt.export/v1",
               "study": {"name": "fc", "project": "fraud", "experiment": "prod",
                         "objective_metric": "loss", "maximize": False, "state": "SUCCEEDED"},
               "trials": [{"name": "fc-1", "state": "SUCCEEDED", "objective": 0.1,
                           "attempt": 1}]}
        db = os.path.join(self.dir, "mixed.db")
        shutil.copy(self.db, db)
        path = os.path.join(self.dir, "fc.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        self.assertEqual(hpt("--db", db, "import", path).returncode, 0)
        r = hpt("--db", db, "leaderboard", "--project", "fraud")
        self.assertEqual(r.returncode, 1)
        self.assertIn('the studies of project "fraud", experiment "prod" rank different '
                      'objectives: fa (max acc),fb (max acc),fc (min loss)', r.stderr)
        # One metric with an order ranks them all; fc never reported acc.
        r = hpt("--db", db, "leaderboard", "--project", "fraud", "--metric", "acc", "--order",
                "desc", "--format", "json", "--top", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([row["trial"] for row in json.loads(r.stdout)], ["fb-2"])


class WarmStart(unittest.TestCase):
    """spec.hpt.warmStart through the binary: `hpt run` and `hpt render` skip what ran before."""

    @staticmethod
    def grid_study(name, max_trials, warm=None):
        """A grid over an int x in 1..4, whose trial's loss is x."""
        return studies.shell_experiment(
            name, "echo loss=${trialParameters.x}", 1, max_trials, algorithm="grid",
            parameters='    - {name: x, parameterType: int, feasibleSpace: {min: "1", max: "4"}}\n',
            extra_spec=f"  hpt:\n    warmStart: [{warm}]\n" if warm else "")

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hpt_warm_")
        cls.db = os.path.join(cls.dir, "hpt.db")
        cls.first = os.path.join(cls.dir, "first.yaml")
        with open(cls.first, "w") as f:
            f.write(cls.grid_study("first", 2))
        cls.second = os.path.join(cls.dir, "second.yaml")
        with open(cls.second, "w") as f:
            f.write(cls.grid_study("second", 2, warm="first"))
        r = hpt("--db", cls.db, "run", cls.first)
        if r.returncode != 0:
            raise AssertionError("first study failed:\n" + r.stdout + r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def xs(self, study):
        r = hpt("--db", self.db, "trials", study, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(row["x"] for row in json.loads(r.stdout))

    def test_render_and_run_take_up_the_grid_where_the_first_study_left_it(self):
        self.assertEqual(self.xs("first"), ["1", "2"])
        render = hpt("--db", self.db, "render", self.second, "--trials", "2")
        self.assertEqual(render.returncode, 0, render.stderr)
        self.assertIn("warm start: 2 trials from first", render.stderr)
        self.assertIn("echo loss=3", render.stdout)
        self.assertIn("echo loss=4", render.stdout)
        self.assertNotIn("echo loss=1", render.stdout)
        run = hpt("--db", self.db, "run", self.second)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(self.xs("second"), ["3", "4"])

    def test_render_without_the_tracker_file_warns_and_a_missing_study_fails(self):
        r = hpt("--db", os.path.join(self.dir, "none.db"), "render", self.second)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: warmStart: no tracker file", r.stderr)
        self.assertIn("echo loss=1", r.stdout)
        ghost = os.path.join(self.dir, "ghost.yaml")
        with open(ghost, "w") as f:
            f.write(self.grid_study("ghost", 1, warm="nope"))
        r = hpt("--db", self.db, "render", ghost)
        self.assertEqual(r.returncode, 1)
        self.assertIn('warmStart: no study "nope" in ' + self.db, r.stderr)


if __name__ == "__main__":
    HPT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    KATIB = katib_dir()
    unittest.main(argv=[sys.argv[0], "-v"])
