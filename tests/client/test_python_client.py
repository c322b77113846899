"""Tests of the Python client (hpt_client and hpt_client.katib) against an in-process grpcio
server. Run with PYTHONPATH=<build>/python (ctest sets it)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
import unittest
from datetime import datetime, timezone
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import fake_hpt_server  # noqa: E402
import hpt_client  # noqa: E402
import hpt_client.katib  # noqa: E402
from fake_hpt_server import TOKEN, TRIAL_ID  # noqa: E402

_HPT_VARS = ("HPT_ENDPOINT", "HPT_TRIAL_ID", "HPT_TRIAL_TOKEN", "KATIB_TRIAL_NAME")


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in _HPT_VARS}


class ServerTestCase(unittest.TestCase):
    """Each test gets a fresh server and an environment holding only its trial variables."""

    def setUp(self):
        self.server = fake_hpt_server.FakeHptServer()
        self.addCleanup(self.server.stop)
        env = _clean_env()
        env.update(self.server.trial_env())
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        hpt_client.close()
        self.addCleanup(hpt_client.close)

    def reporter(self, **kw) -> hpt_client.Reporter:
        kw.setdefault("initial_backoff", 0.001)
        kw.setdefault("max_backoff", 0.004)
        kw.setdefault("max_attempts", 4)
        r = hpt_client.Reporter(**kw)
        self.addCleanup(r.close)
        return r


class ReportTest(ServerTestCase):
    def test_points_arrive_with_names_steps_values_and_time(self):
        before = int(time.time() * 1000)
        stored = hpt_client.report({"loss": 0.5, "accuracy": 0.75}, step=3)
        after = int(time.time() * 1000)
        self.assertEqual(stored, 2)
        reports, points = self.server.snapshot()
        self.assertEqual(len(reports), 1)
        self.assertEqual(reports[0].trial_id, TRIAL_ID)
        self.assertEqual(reports[0].token, TOKEN)
        self.assertGreater(reports[0].seq, 0)
        self.assertFalse(reports[0].final)
        self.assertEqual([(p.name, p.step, p.value) for p in points],
                         [("loss", 3, 0.5), ("accuracy", 3, 0.75)])
        self.assertTrue(all(p.HasField("step") for p in points))
        self.assertEqual(points[0].time_unix_ms, points[1].time_unix_ms)
        self.assertTrue(before <= points[0].time_unix_ms <= after)

    def test_step_none_is_not_sent_and_values_convert_to_float(self):
        class Tensorish:
            def __float__(self):
                return 2.5

        hpt_client.report({"a": 1, "b": "0.25", "c": Tensorish()})
        _, points = self.server.snapshot()
        self.assertEqual([(p.name, p.value) for p in points], [("a", 1.0), ("b", 0.25), ("c", 2.5)])
        self.assertFalse(any(p.HasField("step") for p in points))

    def test_seq_counts_up_by_one_across_reporters_of_the_process(self):
        hpt_client.report({"loss": 1.0}, step=0)
        hpt_client.report({"loss": 2.0}, step=1)
        self.reporter().report({"loss": 3.0}, step=2)
        reports, points = self.server.snapshot()
        self.assertEqual([r.seq - reports[0].seq for r in reports], [0, 1, 2])
        self.assertEqual(len(points), 3)

    def test_final_and_empty_reports(self):
        self.assertEqual(hpt_client.report({}), 0)
        self.assertEqual(self.server.snapshot()[0], [])
        hpt_client.report({}, final=True)
        hpt_client.report({"val_loss": 0.1}, final=True)
        reports, _ = self.server.snapshot()
        self.assertEqual([(r.final, len(r.points)) for r in reports], [(True, 0), (True, 1)])

    def test_bad_values_raise_value_error_before_sending(self):
        cases = [
            ({"loss": float("nan")}, None, "metric 'loss': value is nan; metric values must be finite"),
            ({"loss": math.inf}, None, "metric 'loss': value is inf"),
            ({"ok": 1.0, "loss": -math.inf}, None, "metric 'loss': value is -inf"),
            ({"loss": "nan"}, None, "value is nan"),
            ({"done": True}, None, "metric 'done': True is a bool"),
            ({"loss": "high"}, None, "metric 'loss': value 'high' (str) does not convert to float"),
            ({"loss": None}, None, "value None (NoneType) does not convert to float"),
            ({"": 1.0}, None, "metric name is empty"),
            ({3: 1.0}, None, "metric name 3 is a int; names are str"),
            ({"x" * 257: 1.0}, None, "is 257 bytes; at most 256 allowed"),
            ({"loss": 1.0}, -1, "step -1 is out of range"),
            ({"loss": 1.0}, 1.5, "step 1.5 (float) is not an int"),
            ({"loss": 1.0}, True, "step True is a bool"),
            ([("loss", 1.0)], None, "metrics must be a dict"),
        ]
        for metrics, step, message in cases:
            with self.subTest(message=message):
                with self.assertRaises(ValueError) as cm:
                    hpt_client.report(metrics, step=step)
                self.assertIn(message, str(cm.exception))
        self.assertEqual(self.server.snapshot()[0], [])
        hpt_client.report({"x" * 256: 1.0}, step=0)  # the longest allowed name
        self.assertEqual(len(self.server.snapshot()[0]), 1)

    def test_retry_on_unavailable_keeps_the_same_seq(self):
        self.server.fail_next_reports(2)
        self.assertEqual(self.reporter().report({"loss": 0.25}, step=7), 1)
        reports, points = self.server.snapshot()
        self.assertEqual(len(reports), 3)
        self.assertEqual({r.seq for r in reports}, {reports[0].seq})
        self.assertEqual([(p.name, p.step, p.value) for p in points], [("loss", 7, 0.25)])

    def test_retry_on_deadline_exceeded_and_late_replay_is_a_duplicate(self):
        r = self.reporter(timeout=0.5)
        self.server.stall_next_report()  # the first attempt blocks until released
        self.assertEqual(r.report({"loss": 0.5}, step=1), 1)
        self.server.release_stall.set()
        self.server.stop()  # waits for the stalled handler
        reports, points = self.server.snapshot()
        self.assertGreaterEqual(len(reports), 2)  # more if too loaded to answer within 0.5 s
        self.assertEqual({r.seq for r in reports}, {reports[0].seq})
        self.assertEqual(len(points), 1)

    def test_gives_up_after_max_attempts(self):
        self.server.fail_next_reports(100)
        with self.assertRaises(hpt_client.HptError) as cm:
            self.reporter(max_attempts=3).report({"loss": 1.0})
        e = cm.exception
        self.assertIsInstance(e, RuntimeError)
        self.assertEqual(e.code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(e.details, "injected failure")
        self.assertEqual(e.method, "hpt.v1.MetricsService/Report")
        self.assertIn(f"hpt.v1.MetricsService/Report at {self.server.endpoint} failed: "
                      "UNAVAILABLE: injected failure", str(e))
        reports, points = self.server.snapshot()
        self.assertEqual(len(reports), 3)
        self.assertEqual(len({r.seq for r in reports}), 1)
        self.assertEqual(points, [])

    def test_non_retryable_codes_raise_after_one_attempt(self):
        r = self.reporter()
        codes = [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                 grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
                 grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL]
        for n, code in enumerate(codes, start=1):
            with self.subTest(code=code):
                self.server.fail_next_reports(1, code)
                with self.assertRaises(hpt_client.HptError) as cm:
                    r.report({"loss": 1.0})
                self.assertEqual(cm.exception.code, code)
                self.assertEqual(cm.exception.details, "injected failure")
                self.assertEqual(len(self.server.snapshot()[0]), n)

    def test_wrong_token_and_unknown_trial(self):
        with self.assertRaises(hpt_client.HptError) as cm:
            self.reporter(token="guess").report({"loss": 1.0})
        self.assertEqual(cm.exception.code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(cm.exception.details, "wrong token for trial")
        with self.assertRaises(hpt_client.HptError) as cm:
            self.reporter(trial_id="nope").report({"loss": 1.0})
        self.assertEqual(cm.exception.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(cm.exception.details, 'unknown trial "nope"')

    def test_unreachable_endpoint_is_unavailable(self):
        self.server.stop()  # nothing listens on its port now
        with self.assertRaises(hpt_client.HptError) as cm:
            self.reporter(max_attempts=2).report({"loss": 1.0})
        self.assertEqual(cm.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_concurrent_reports_get_distinct_seqs_in_order(self):
        r = self.reporter()
        errors = []

        def work(t):
            try:
                for i in range(20):
                    r.report({f"m{t}": float(i)}, step=i)
            except Exception as e:  # noqa: BLE001 (collected for the assertion)
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        reports, points = self.server.snapshot()
        seqs = [rep.seq for rep in reports]
        self.assertEqual(len(seqs), 80)
        self.assertEqual(seqs, sorted(set(seqs)))  # distinct and sent in seq order
        self.assertEqual(len(points), 80)


class EnvironmentTest(unittest.TestCase):
    def test_missing_variables_are_named(self):
        for var in ("HPT_ENDPOINT", "HPT_TRIAL_ID", "HPT_TRIAL_TOKEN"):
            with self.subTest(var=var):
                env = _clean_env()
                env.update({"HPT_ENDPOINT": "127.0.0.1:1", "HPT_TRIAL_ID": "t",
                            "HPT_TRIAL_TOKEN": "k"})
                env[var] = ""  # empty counts as missing
                with mock.patch.dict(os.environ, env, clear=True):
                    hpt_client.close()
                    with self.assertRaises(RuntimeError) as cm:
                        hpt_client.report({"loss": 1.0})
                    self.assertNotIsInstance(cm.exception, hpt_client.HptError)
                    self.assertIn(f"{var} is not set", str(cm.exception))
                    self.assertIn("run this under hpt (hpt run study.yaml)", str(cm.exception))

    def test_all_missing_named_and_failure_is_not_cached(self):
        with mock.patch.dict(os.environ, _clean_env(), clear=True):
            hpt_client.close()
            for call in (hpt_client.assignment, hpt_client.params, hpt_client.seed):
                with self.assertRaises(RuntimeError) as cm:
                    call()
                self.assertIn("HPT_ENDPOINT, HPT_TRIAL_ID, HPT_TRIAL_TOKEN are not set",
                              str(cm.exception))
        server = fake_hpt_server.FakeHptServer()
        self.addCleanup(server.stop)
        env = _clean_env()
        env.update(server.trial_env())
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(hpt_client.report({"loss": 1.0}), 1)  # env now present: works
            hpt_client.close()

    def test_import_needs_no_environment_and_no_server(self):
        env = _clean_env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        out = subprocess.run([sys.executable, "-c", "import hpt_client, hpt_client.katib; "
                              "print(hpt_client.__all__)"],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("'report'", out.stdout)

    def test_bad_reporter_options(self):
        with self.assertRaises(ValueError):
            hpt_client.Reporter("127.0.0.1:1", "t", "k", max_attempts=0)
        with self.assertRaises(ValueError):
            hpt_client.Reporter("127.0.0.1:1", "t", "k", timeout=0)


class AssignmentTest(ServerTestCase):
    def test_assignment_is_strings(self):
        self.server.fail_next_assignments(1)  # retried
        self.assertEqual(hpt_client.assignment(),
                         {"lr": "0.01", "hidden": "16", "optimizer": "adam", "batch": "32"})
        self.assertEqual(self.server.assignment_calls, 2)

    def test_params_are_typed_and_cached(self):
        p = hpt_client.params()
        self.assertEqual(p, {"lr": 0.01, "hidden": 16, "optimizer": "adam", "batch": 32.0})
        self.assertIs(type(p["hidden"]), int)
        self.assertIs(type(p["lr"]), float)
        self.assertIs(type(p["batch"]), float)
        self.assertEqual(hpt_client.seed(), 42)
        hpt_client.assignment()
        self.assertEqual(self.server.assignment_calls, 1)
        a = self.reporter().get_assignment()
        self.assertEqual((a.trial_id, a.study, a.seed, a.objective_metric),
                         (TRIAL_ID, "study-a", 42, "loss"))
        self.assertEqual(a.types["optimizer"], "categorical")

    def test_int_written_as_float_and_bad_numbers(self):
        self.server.parameters = [("units", "8.0", "int"), ("lr", "fast", "double")]
        a = self.reporter().get_assignment()
        with self.assertRaises(ValueError) as cm:
            a.typed()
        self.assertIn("parameter 'lr' of type double has value 'fast', which is not a number",
                      str(cm.exception))
        self.server.parameters = [("units", "8.0", "int"), ("frac", "8.5", "int")]
        b = self.reporter().get_assignment()
        with self.assertRaises(ValueError) as cm:
            b.typed()
        self.assertIn("parameter 'frac' of type int has value '8.5'", str(cm.exception))
        self.server.parameters = [("units", "8.0", "int")]
        self.assertEqual(self.reporter().params(), {"units": 8})

    def test_assignment_error_carries_code_and_is_not_cached(self):
        r = self.reporter(token="guess")
        for _ in range(2):
            with self.assertRaises(hpt_client.HptError) as cm:
                r.assignment()
            self.assertEqual(cm.exception.code, grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(cm.exception.method, "hpt.v1.MetricsService/GetAssignment")
        self.assertEqual(self.server.assignment_calls, 2)


class KatibShimTest(ServerTestCase):
    def test_one_request_with_timestamp_and_str_values(self):
        before = datetime.now(timezone.utc).replace(microsecond=0)
        hpt_client.katib.report_metrics({"accuracy": 0.9, "loss": 1, "lr": "0.5"})
        after = datetime.now(timezone.utc)
        self.assertEqual(len(self.server.katib_reports), 1)
        req = self.server.katib_reports[0]
        self.assertEqual(req.trial_name, fake_hpt_server.KATIB_TRIAL)
        logs = req.observation_log.metric_logs
        self.assertEqual([(m.metric.name, m.metric.value) for m in logs],
                         [("accuracy", "0.9"), ("loss", "1"), ("lr", "0.5")])
        stamps = {m.time_stamp for m in logs}
        self.assertEqual(len(stamps), 1)
        stamp = stamps.pop()
        self.assertRegex(stamp, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        self.assertTrue(before <= t <= after, (before, t, after))
        self.assertEqual(self.server.snapshot()[0], [])  # nothing went to MetricsService

    def test_missing_trial_name_is_value_error(self):
        del os.environ["KATIB_TRIAL_NAME"]
        with self.assertRaises(ValueError) as cm:
            hpt_client.katib.report_metrics({"loss": 1.0})
        self.assertIn("KATIB_TRIAL_NAME is not set", str(cm.exception))
        self.assertEqual(self.server.katib_reports, [])

    def test_value_must_convert_to_float(self):
        with self.assertRaises(ValueError) as cm:
            hpt_client.katib.report_metrics({"loss": 1.0, "acc": "high"})
        self.assertIn("metric 'acc': value 'high' (str) does not convert to float",
                      str(cm.exception))
        self.assertEqual(self.server.katib_reports, [])

    def test_explicit_address_wins_over_hpt_endpoint(self):
        os.environ["HPT_ENDPOINT"] = "127.0.0.1:1"  # would fail
        hpt_client.katib.report_metrics({"loss": 1.0}, db_manager_address=self.server.endpoint)
        self.assertEqual(len(self.server.katib_reports), 1)

    def test_default_address_without_hpt_endpoint_is_katibs(self):
        del os.environ["HPT_ENDPOINT"]
        self.assertEqual(hpt_client.katib._default_address(), "katib-db-manager.kubeflow:6789")
        os.environ["HPT_ENDPOINT"] = self.server.endpoint
        self.assertEqual(hpt_client.katib._default_address(), self.server.endpoint)

    def test_unavailable_is_retried_other_errors_raise(self):
        self.server.fail_next_katib(2)
        hpt_client.katib.report_metrics({"loss": 1.0}, timeout=30)
        self.assertEqual(len(self.server.katib_reports), 3)
        self.server.fail_next_katib(1, grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(hpt_client.HptError) as cm:
            hpt_client.katib.report_metrics({"loss": 1.0})
        self.assertEqual(cm.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(len(self.server.katib_reports), 4)
        os.environ["KATIB_TRIAL_NAME"] = "other"
        with self.assertRaises(RuntimeError) as cm:  # as Katib's SDK raises
            hpt_client.katib.report_metrics({"loss": 1.0})
        self.assertEqual(cm.exception.code, grpc.StatusCode.NOT_FOUND)
        self.assertIn('unknown trial "other"', str(cm.exception))


if __name__ == "__main__":
    unittest.main()
