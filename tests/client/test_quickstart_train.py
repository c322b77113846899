"""Runs examples/quickstart/train.py standalone (no hpt) and as a trial reporting to an
in-process fake hpt server. Run with PYTHONPATH=<build>/python (ctest sets it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fake_hpt_server  # noqa: E402

SOURCE_DIR = os.environ.get("HPT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
TRAIN = os.path.join(SOURCE_DIR, "examples", "quickstart", "train.py")
LINE = re.compile(r"^epoch=(\d+) loss=(\d+\.\d{4}) accuracy=(\d\.\d{4})$")
# Katib's default StdOut filter (pkg/metricscollector/v1beta1/common/const.go).
KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
_TRIAL_VARS = ("HPT_ENDPOINT", "HPT_TRIAL_ID", "HPT_TRIAL_TOKEN", "KATIB_TRIAL_NAME")


def run(args, env):
    return subprocess.run([sys.executable, TRAIN, *args], env=env, capture_output=True,
                          text=True, timeout=120)


def standalone_env():
    """No trial variables and no PYTHONPATH: hpt_client is not even importable."""
    return {k: v for k, v in os.environ.items() if k not in _TRIAL_VARS + ("PYTHONPATH",)}


def parse(stdout):
    lines = stdout.splitlines()
    rows = [LINE.match(line) for line in lines]
    assert all(rows), f"unexpected stdout lines: {lines}"
    return [(int(m.group(1)), float(m.group(2)), float(m.group(3))) for m in rows]


class StandaloneTest(unittest.TestCase):
    def test_prints_katib_style_lines_and_exits_0(self):
        out = run(["--lr=0.1", "--hidden=8"], standalone_env())
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = parse(out.stdout)
        self.assertEqual([r[0] for r in rows], list(range(1, 21)))  # --epochs defaults to 20
        for epoch, loss, accuracy in rows:
            self.assertGreater(loss, 0.0)
            self.assertTrue(0.0 <= accuracy <= 1.0)
        self.assertLess(rows[-1][1], rows[0][1])  # it learns
        metrics = dict((m[0], m[1]) for m in KATIB_FILTER.findall(out.stdout.splitlines()[-1]))
        self.assertEqual(set(metrics), {"epoch", "loss", "accuracy"})
        self.assertEqual(float(metrics["loss"]), rows[-1][1])

    def test_deterministic_per_seed_and_hyperparameters_matter(self):
        args = ["--epochs=4", "--optimizer=adam", "--lr=0.05", "--batch-size=8"]
        a = run(args + ["--seed=3"], standalone_env())
        b = run(args + ["--seed=3"], standalone_env())
        c = run(args + ["--seed=4"], standalone_env())
        d = run(["--epochs=4", "--optimizer=sgd", "--lr=0.001", "--seed=3"], standalone_env())
        for out in (a, b, c, d):
            self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(a.stdout, b.stdout)
        self.assertNotEqual(a.stdout, c.stdout)
        self.assertLess(parse(a.stdout)[-1][1], parse(d.stdout)[-1][1])

    def test_bad_flags_exit_2_with_a_message(self):
        for args, message in [(["--lr=0"], "--lr=0.0: the learning rate must be > 0"),
                              (["--momentum=1"], "--momentum=1.0: must be in [0, 1)"),
                              (["--hidden=0"], "--hidden=0: must be >= 1"),
                              (["--optimizer=rmsprop"], "invalid choice: 'rmsprop'"),
                              (["--no-such-flag=1"], "unrecognized arguments")]:
            with self.subTest(args=args):
                out = run(args, standalone_env())
                self.assertEqual(out.returncode, 2)
                self.assertIn(message, out.stderr)
                self.assertEqual(out.stdout, "")

    def test_under_hpt_without_hpt_client_exits_2(self):
        env = standalone_env()
        env["HPT_ENDPOINT"] = "127.0.0.1:1"
        out = run(["--epochs=1"], env)
        self.assertEqual(out.returncode, 2)
        self.assertIn("hpt_client cannot be imported", out.stderr)


class UnderHptTest(unittest.TestCase):
    def setUp(self):
        self.server = fake_hpt_server.FakeHptServer()
        self.addCleanup(self.server.stop)
        self.env = standalone_env()
        self.env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        self.env.update(self.server.trial_env())

    def test_reports_every_epoch_with_step_and_uses_the_trials_seed(self):
        out = run(["--epochs=3", "--optimizer=momentum", "--lr=0.2"], self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        printed = parse(out.stdout)
        reports, points = self.server.snapshot()
        self.assertEqual(len(reports), 3)
        self.assertEqual([r.final for r in reports], [False, False, True])
        self.assertEqual([r.seq - reports[0].seq for r in reports], [0, 1, 2])
        self.assertEqual([(p.name, p.step) for p in points],
                         [("loss", 1), ("accuracy", 1), ("loss", 2), ("accuracy", 2),
                          ("loss", 3), ("accuracy", 3)])
        for i, (epoch, loss, accuracy) in enumerate(printed):
            self.assertAlmostEqual(points[2 * i].value, loss, places=4)
            self.assertAlmostEqual(points[2 * i + 1].value, accuracy, places=4)
        # The fake server's seed is 42: the same run standalone with --seed=42 prints the same.
        alone = run(["--epochs=3", "--optimizer=momentum", "--lr=0.2", "--seed=42"],
                    standalone_env())
        self.assertEqual(alone.stdout, out.stdout)
        self.assertEqual(self.server.assignment_calls, 1)

    def test_server_refusal_fails_the_trial(self):
        self.env["HPT_TRIAL_TOKEN"] = "guess"
        out = run(["--epochs=2", "--seed=1"], self.env)  # --seed: no GetAssignment needed
        self.assertEqual(out.returncode, 1)
        self.assertIn("PERMISSION_DENIED: wrong token for trial", out.stderr)
        self.assertEqual(len(parse(out.stdout)), 1)  # stopped after the first epoch
        self.assertEqual(self.server.assignment_calls, 0)


if __name__ == "__main__":
    unittest.main()
