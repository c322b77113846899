"""An in-process grpcio server implementing hpt.v1.MetricsService and Katib's DBManager in
memory, for the Python client tests. It records every request before checking it, checks the
trial id and token, dedups by seq, and can fail or stall the next calls on request."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import List, Optional

import grpc

from hpt.v1 import metrics_pb2, metrics_pb2_grpc
from katib.v1beta1 import api_pb2, api_pb2_grpc

TRIAL_ID = "study-a-trial-7"
TOKEN = "s3cret"
KATIB_TRIAL = "study-a-trial-7"

PARAMETERS = [("lr", "0.01", "double"), ("hidden", "16", "int"),
              ("optimizer", "adam", "categorical"), ("batch", "32", "discrete")]


class _Metrics(metrics_pb2_grpc.MetricsServiceServicer):
    def __init__(self, owner: "FakeHptServer"):
        self._o = owner

    def Report(self, request, context):
        o = self._o
        with o.lock:
            o.reports.append(request)
            stall = o._stall_next_report
            o._stall_next_report = False
        if stall:
            o.release_stall.wait()
        with o.lock:
            if o._fail_reports > 0:
                o._fail_reports -= 1
                context.abort(o._fail_code, "injected failure")
            o._check(request.trial_id, request.token, context)
            duplicate = request.seq in o.seen_seqs
            if not duplicate:
                o.seen_seqs.add(request.seq)
                o.points.extend(request.points)
            return metrics_pb2.ReportResponse(
                seq=request.seq, stored=0 if duplicate else len(request.points),
                duplicate=duplicate)

    def GetAssignment(self, request, context):
        o = self._o
        with o.lock:
            o.assignment_calls += 1
            if o._fail_assignments > 0:
                o._fail_assignments -= 1
                context.abort(o._fail_code, "injected failure")
            o._check(request.trial_id, request.token, context)
            return metrics_pb2.GetAssignmentResponse(
                trial_id=TRIAL_ID, study="study-a", seed=o.seed, objective_metric="loss",
                parameters=[metrics_pb2.Parameter(name=n, value=v, type=t)
                            for n, v, t in o.parameters])


class _DBManager(api_pb2_grpc.DBManagerServicer):
    def __init__(self, owner: "FakeHptServer"):
        self._o = owner

    def ReportObservationLog(self, request, context):
        o = self._o
        with o.lock:
            o.katib_reports.append(request)
            if o._fail_katib > 0:
                o._fail_katib -= 1
                context.abort(o._fail_code, "injected failure")
            if request.trial_name != KATIB_TRIAL:
                context.abort(grpc.StatusCode.NOT_FOUND, f'unknown trial "{request.trial_name}"')
        return api_pb2.ReportObservationLogReply()


class FakeHptServer:
    """Starts on 127.0.0.1:<free port>; ``endpoint`` is what HPT_ENDPOINT would be."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reports: List[metrics_pb2.ReportRequest] = []
        self.points: List[metrics_pb2.MetricPoint] = []
        self.seen_seqs = set()
        self.katib_reports: List[api_pb2.ReportObservationLogRequest] = []
        self.assignment_calls = 0
        self.parameters = list(PARAMETERS)
        self.seed = 42
        self.release_stall = threading.Event()
        self._fail_reports = 0
        self._fail_assignments = 0
        self._fail_katib = 0
        self._fail_code = grpc.StatusCode.UNAVAILABLE
        self._stall_next_report = False
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                   options=[("grpc.so_reuseport", 0)])
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), self._server)
        api_pb2_grpc.add_DBManagerServicer_to_server(_DBManager(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        assert self.port > 0
        self.endpoint = f"127.0.0.1:{self.port}"
        self._server.start()

    def stop(self) -> None:
        self.release_stall.set()
        self._server.stop(grace=None).wait()

    def _check(self, trial_id: str, token: str, context) -> None:
        if trial_id != TRIAL_ID:
            context.abort(grpc.StatusCode.NOT_FOUND, f'unknown trial "{trial_id}"')
        if token != TOKEN:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "wrong token for trial")

    def fail_next_reports(self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        with self.lock:
            self._fail_reports, self._fail_code = n, code

    def fail_next_assignments(self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        with self.lock:
            self._fail_assignments, self._fail_code = n, code

    def fail_next_katib(self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        with self.lock:
            self._fail_katib, self._fail_code = n, code

    def stall_next_report(self) -> None:
        with self.lock:
            self._stall_next_report = True

    def snapshot(self):
        """(reports, stored points) copies."""
        with self.lock:
            return list(self.reports), list(self.points)

    def trial_env(self, endpoint: Optional[str] = None) -> dict:
        return {"HPT_ENDPOINT": endpoint or self.endpoint, "HPT_TRIAL_ID": TRIAL_ID,
                "HPT_TRIAL_TOKEN": TOKEN, "KATIB_TRIAL_NAME": KATIB_TRIAL}
