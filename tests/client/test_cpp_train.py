"""Runs the C++ example (examples/cpp-train) standalone and as a trial reporting to an
in-process fake hpt server. Usage: test_cpp_train.py <path of hpt_example_cpp_train> [-v].
Run with PYTHONPATH=<build>/python (ctest sets it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_hpt_server  # noqa: E402

BINARY = ""
LINE = re.compile(r"^epoch=(\d+) loss=(\d+\.\d{6}) train_loss=(\d+\.\d{6})$")
_TRIAL_VARS = ("HPT_ENDPOINT", "HPT_TRIAL_ID", "HPT_TRIAL_TOKEN", "KATIB_TRIAL_NAME")


def run(args, env):
    return subprocess.run([BINARY, *args], env=env, capture_output=True, text=True, timeout=120)


def standalone_env():
    return {k: v for k, v in os.environ.items() if k not in _TRIAL_VARS}


def parse(stdout):
    rows = [LINE.match(line) for line in stdout.splitlines()]
    assert rows and all(rows), f"unexpected stdout: {stdout!r}"
    return [(int(m.group(1)), float(m.group(2)), float(m.group(3))) for m in rows]


class CppTrainTest(unittest.TestCase):
    def test_standalone_prints_one_line_per_epoch(self):
        out = run(["--epochs=5"], standalone_env())
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = parse(out.stdout)
        self.assertEqual([r[0] for r in rows], [1, 2, 3, 4, 5])
        self.assertLess(rows[-1][1], rows[0][1])

    def test_bad_flag_values_exit_2(self):
        out = run(["--lr=0"], standalone_env())
        self.assertEqual(out.returncode, 2)
        self.assertIn("--lr=0: the learning rate must be > 0", out.stderr)

    def test_reports_each_epoch_with_the_trials_seed(self):
        server = fake_hpt_server.FakeHptServer()
        self.addCleanup(server.stop)
        env = standalone_env()
        env.update(server.trial_env())
        out = run(["--epochs=3", "--hidden=8"], env)
        self.assertEqual(out.returncode, 0, out.stderr)
        printed = parse(out.stdout)
        reports, points = server.snapshot()
        self.assertEqual([r.final for r in reports], [False, False, True])
        self.assertEqual([(p.name, p.step) for p in points],
                         [("loss", 1), ("train_loss", 1), ("loss", 2), ("train_loss", 2),
                          ("loss", 3), ("train_loss", 3)])
        for i, (_, loss, train_loss) in enumerate(printed):
            self.assertAlmostEqual(points[2 * i].value, loss, places=6)
            self.assertAlmostEqual(points[2 * i + 1].value, train_loss, places=6)
        alone = run(["--epochs=3", "--hidden=8", "--seed=42"], standalone_env())
        self.assertEqual(alone.stdout, out.stdout)  # the fake server's seed is 42

    def test_refused_report_exits_1_with_the_servers_code(self):
        server = fake_hpt_server.FakeHptServer()
        self.addCleanup(server.stop)
        env = standalone_env()
        env.update(server.trial_env())
        env["HPT_TRIAL_TOKEN"] = "guess"
        out = run(["--epochs=3", "--seed=1"], env)
        self.assertEqual(out.returncode, 1)
        self.assertIn("PERMISSION_DENIED", out.stderr)
        self.assertIn("wrong token for trial", out.stderr)
        self.assertEqual(len(parse(out.stdout)), 1)

    def test_incomplete_trial_environment_exits_1(self):
        env = standalone_env()
        env["HPT_ENDPOINT"] = "127.0.0.1:1"
        out = run(["--epochs=1"], env)
        self.assertEqual(out.returncode, 1)
        self.assertIn("HPT_TRIAL_ID, HPT_TRIAL_TOKEN are not set", out.stderr)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main()
