"""hpt_client: report training metrics to hpt and read the trial's hyperparameters.

Training code that runs as an hpt trial finds ``HPT_ENDPOINT``, ``HPT_TRIAL_ID`` and
``HPT_TRIAL_TOKEN`` in its environment and reports ``(name, step, value, time)`` points over
gRPC (``hpt.v1.MetricsService``)::

    import hpt_client

    params = hpt_client.params()          # {"lr": 0.01, "layers": 3, "optimizer": "adam"}
    for epoch in range(epochs):
        loss, acc = train_one_epoch(...)
        hpt_client.report({"loss": loss, "accuracy": acc}, step=epoch)
    hpt_client.report({"val_loss": val_loss}, final=True)

Code instrumented for Katib keeps working through ``hpt_client.katib.report_metrics``.

A deployed model's service reports its live metrics to hptd, where retraining triggers watch
them (docs/triggers.md), with ``report_model``::

    hpt_client.report_model("fraud", {"auc": 0.87}, experiment="prod", model="fraud-v3")

Behaviour worth knowing:

* Importing this module touches no network and reads no environment; the first call does.
* TLS: set ``HPT_TLS_CA`` (or ``HPT_TLS=1``), and for mutual TLS ``HPT_TLS_CERT`` and
  ``HPT_TLS_KEY`` (see ``open_channel``).
* ``report`` returns only after hpt has committed the points (its reply is the commit ack).
* Every report carries a sequence number (``seq``), counted per process from 1. A report that
  fails with UNAVAILABLE or DEADLINE_EXCEEDED is retried a few times with capped exponential
  backoff under the SAME ``seq``, so hpt stores it at most once. Other gRPC errors are raised at
  once as ``HptError``. One process per trial should report (e.g. rank 0 of a distributed job),
  since two processes would both count from 1.
* Reporter objects and the module-level functions are thread-safe; reports from one Reporter
  are sent one at a time, in ``seq`` order. Do not share a Reporter across ``fork()``.

Errors: ``RuntimeError`` when the trial environment is missing (not running under hpt),
``ValueError`` for a bad metric or step (nothing is sent), ``HptError`` (a ``RuntimeError``)
when hpt answers with an error; its ``code`` is the ``grpc.StatusCode``.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import math
import operator
import os
import random
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional

import grpc

from hpt.v1 import metrics_pb2, metrics_pb2_grpc, study_pb2, study_pb2_grpc

__all__ = [
    "Assignment",
    "HptError",
    "Reporter",
    "assignment",
    "close",
    "open_channel",
    "params",
    "report",
    "report_model",
    "seed",
]

ENV_ENDPOINT = "HPT_ENDPOINT"
ENV_TRIAL_ID = "HPT_TRIAL_ID"
ENV_TRIAL_TOKEN = "HPT_TRIAL_TOKEN"
ENV_TLS = "HPT_TLS"
ENV_TLS_CA = "HPT_TLS_CA"
ENV_TLS_CERT = "HPT_TLS_CERT"
ENV_TLS_KEY = "HPT_TLS_KEY"
ENV_TLS_SERVER_NAME = "HPT_TLS_SERVER_NAME"
ENV_SERVER = "HPT_SERVER"
ENV_ADMIN_TOKEN_FILE = "HPT_ADMIN_TOKEN_FILE"

MAX_METRIC_NAME_BYTES = 256
_INT64_MAX = 2**63 - 1
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_jitter = random.Random()  # private, so retries never disturb the training code's random state


class HptError(RuntimeError):
    """hpt answered a call with an error (after retries, for retryable codes).

    Attributes:
        code: the ``grpc.StatusCode`` (e.g. ``PERMISSION_DENIED`` for a wrong token,
            ``FAILED_PRECONDITION`` when the trial has already finished).
        details: the server's message.
        method: the RPC, e.g. ``"hpt.v1.MetricsService/Report"``.
    """

    def __init__(self, method: str, code: grpc.StatusCode, details: str, endpoint: str = ""):
        self.method = method
        self.code = code
        self.details = details
        self.endpoint = endpoint
        where = f" at {endpoint}" if endpoint else ""
        super().__init__(f"{method}{where} failed: {code.name}: {details}")


@dataclasses.dataclass(frozen=True)
class Assignment:
    """A trial's parameter assignment as hpt sent it (``GetAssignment``)."""

    trial_id: str
    study: str
    values: Dict[str, str]  # name -> exactly the string substituted into the trial template
    types: Dict[str, str]  # name -> double | int | discrete | categorical
    seed: int  # the trial's seed, for reproducible training code
    objective_metric: str

    def typed(self) -> Dict[str, Any]:
        """Values converted by type: int for int, float for double and discrete, else str.

        Raises ValueError when a numeric value does not parse.
        """
        return {name: _typed_value(name, value, self.types.get(name, ""))
                for name, value in self.values.items()}


def _typed_value(name: str, value: str, kind: str) -> Any:
    try:
        if kind == "int":
            try:
                return int(value)
            except ValueError:
                as_float = float(value)  # "3.0" from a template that formatted an int as float
                if not as_float.is_integer():
                    raise
                return int(as_float)
        if kind in ("double", "discrete"):
            return float(value)
    except ValueError:
        raise ValueError(
            f"parameter {name!r} of type {kind} has value {value!r}, which is not a number"
        ) from None
    return value


# Sequence numbers are counted per process, shared by every Reporter, so two Reporters of one
# trial in one process never reuse a seq.
_seq_counter = itertools.count(1)
_seq_lock = threading.Lock()


def _next_seq() -> int:
    with _seq_lock:
        return next(_seq_counter)


def _metric_value(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"metric {name!r}: {value!r} is a bool, not a metric value; "
                         "report 1.0 or 0.0 explicitly")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r}: value {value!r} ({type(value).__name__}) does not "
                         "convert to float") from None
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r}: value is {number}; metric values must be finite")
    return number


def _metric_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ValueError(f"metric name {name!r} is a {type(name).__name__}; names are str")
    if not name:
        raise ValueError("metric name is empty")
    size = len(name.encode("utf-8"))
    if size > MAX_METRIC_NAME_BYTES:
        raise ValueError(f"metric name {name[:32]!r}... is {size} bytes; at most "
                         f"{MAX_METRIC_NAME_BYTES} allowed")
    return name


def _check_step(step: Any) -> Optional[int]:
    if step is None:
        return None
    if isinstance(step, bool):
        raise ValueError(f"step {step!r} is a bool; steps are ints >= 0")
    try:
        number = operator.index(step)  # int, numpy integers; not 1.5
    except TypeError:
        raise ValueError(f"step {step!r} ({type(step).__name__}) is not an int; "
                         "steps are ints >= 0") from None
    if number < 0 or number > _INT64_MAX:
        raise ValueError(f"step {number} is out of range; steps are ints in [0, 2^63)")
    return number


def _read_file(var: str) -> Optional[bytes]:
    path = os.environ.get(var)
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise RuntimeError(f"{var}={path}: cannot read it ({e.strerror})") from None


def open_channel(endpoint: str) -> grpc.Channel:
    """A gRPC channel to ``endpoint``, with TLS when the environment asks for it.

    TLS is on when ``HPT_TLS_CA`` (PEM roots that verify hpt's certificate) or ``HPT_TLS=1``
    (the system's roots) is set; ``HPT_TLS_CERT`` and ``HPT_TLS_KEY`` add a client certificate
    for mutual TLS, and ``HPT_TLS_SERVER_NAME`` is the name to check in hpt's certificate when it
    is not the endpoint's host. RuntimeError when a named file cannot be read, or when only one
    of the certificate and the key is given.
    """
    ca = _read_file(ENV_TLS_CA)
    cert, key = _read_file(ENV_TLS_CERT), _read_file(ENV_TLS_KEY)
    if (cert is None) != (key is None):
        raise RuntimeError(f"{ENV_TLS_CERT} and {ENV_TLS_KEY} go together: set both or neither")
    if ca is None and cert is None and os.environ.get(ENV_TLS) != "1":
        return grpc.insecure_channel(endpoint)
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                               certificate_chain=cert)
    options = []
    if os.environ.get(ENV_TLS_SERVER_NAME):
        options.append(("grpc.ssl_target_name_override", os.environ[ENV_TLS_SERVER_NAME]))
    return grpc.secure_channel(endpoint, credentials, options=options)


class Reporter:
    """One connection to hpt for one trial.

    ``Reporter()`` reads ``HPT_ENDPOINT``, ``HPT_TRIAL_ID`` and ``HPT_TRIAL_TOKEN`` for whatever
    is not passed explicitly, and raises RuntimeError naming any that is missing. The gRPC
    channel is created on first use. Thread-safe.

    Args:
        timeout: seconds each attempt of a call may take.
        max_attempts: attempts per call for UNAVAILABLE / DEADLINE_EXCEEDED (>= 1).
        initial_backoff, max_backoff: seconds slept before the 2nd attempt, doubling per attempt
            up to ``max_backoff`` (with up to 20% jitter).
    """

    def __init__(self, endpoint: Optional[str] = None, trial_id: Optional[str] = None,
                 token: Optional[str] = None, *, timeout: float = 30.0, max_attempts: int = 5,
                 initial_backoff: float = 0.1, max_backoff: float = 2.0):
        given = {ENV_ENDPOINT: endpoint, ENV_TRIAL_ID: trial_id, ENV_TRIAL_TOKEN: token}
        values = {var: v if v is not None else os.environ.get(var, "")
                  for var, v in given.items()}
        missing = [var for var, v in values.items() if not v]
        if missing:
            raise RuntimeError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: hpt gives "
                "every trial HPT_ENDPOINT, HPT_TRIAL_ID and HPT_TRIAL_TOKEN; run this under hpt "
                "(hpt run study.yaml)")
        if max_attempts < 1:
            raise ValueError(f"max_attempts is {max_attempts}; at least 1 is required")
        if timeout <= 0:
            raise ValueError(f"timeout is {timeout}; it must be > 0 seconds")
        self.endpoint = values[ENV_ENDPOINT]
        self.trial_id = values[ENV_TRIAL_ID]
        self._token = values[ENV_TRIAL_TOKEN]
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._lock = threading.Lock()  # guards _channel, _stub, _assignment
        self._send_lock = threading.Lock()  # one report in flight, so seqs arrive in order
        self._channel: Optional[grpc.Channel] = None
        self._stub: Optional[metrics_pb2_grpc.MetricsServiceStub] = None
        self._assignment: Optional[Assignment] = None

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel; a later call opens a new one."""
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._stub = None

    def _get_stub(self) -> metrics_pb2_grpc.MetricsServiceStub:
        with self._lock:
            if self._stub is None:
                self._channel = open_channel(self.endpoint)
                self._stub = metrics_pb2_grpc.MetricsServiceStub(self._channel)
            return self._stub

    def _call(self, method: str, invoke: Callable[[float], Any]) -> Any:
        backoff = self._initial_backoff
        for attempt in range(1, self._max_attempts + 1):
            try:
                return invoke(self._timeout)
            except grpc.RpcError as e:
                code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
                details = (e.details() if hasattr(e, "details") else None) or str(e)
                if code not in _RETRYABLE or attempt == self._max_attempts:
                    raise HptError(method, code, details, self.endpoint) from None
            time.sleep(min(backoff, self._max_backoff) * _jitter.uniform(0.8, 1.0))
            backoff *= 2
        raise AssertionError("unreachable")

    def report(self, metrics: Mapping[str, Any], step: Optional[int] = None,
               final: bool = False) -> int:
        """Reports every item of ``metrics`` as one point (same step, same time).

        ``step`` is an int >= 0, or None to let hpt number the metric's points 0, 1, 2, ...
        ``final=True`` tells hpt the trial has reported everything. An empty ``metrics`` sends
        nothing unless ``final`` is set.

        Returns the number of points hpt stored (0 when it had already stored this report).
        Raises ValueError for a bad name, value (not convertible to float, NaN, Inf, bool) or
        step before anything is sent; HptError when hpt refuses the report.
        """
        if not isinstance(metrics, Mapping):
            raise ValueError(f"metrics must be a dict of name -> number, not "
                             f"{type(metrics).__name__}")
        step = _check_step(step)
        now_ms = int(time.time() * 1000)
        points = []
        for name, value in metrics.items():
            point = metrics_pb2.MetricPoint(name=_metric_name(name),
                                            value=_metric_value(name, value),
                                            time_unix_ms=now_ms)
            if step is not None:
                point.step = step
            points.append(point)
        if not points and not final:
            return 0
        stub = self._get_stub()
        with self._send_lock:
            request = metrics_pb2.ReportRequest(trial_id=self.trial_id, token=self._token,
                                                seq=_next_seq(), points=points, final=bool(final))
            reply = self._call("hpt.v1.MetricsService/Report",
                               lambda t: stub.Report(request, timeout=t))
        return reply.stored

    def get_assignment(self) -> Assignment:
        """The trial's assignment, fetched once and cached. Raises HptError on errors."""
        with self._lock:
            if self._assignment is not None:
                return self._assignment
        stub = self._get_stub()
        request = metrics_pb2.GetAssignmentRequest(trial_id=self.trial_id, token=self._token)
        reply = self._call("hpt.v1.MetricsService/GetAssignment",
                           lambda t: stub.GetAssignment(request, timeout=t))
        result = Assignment(
            trial_id=reply.trial_id, study=reply.study,
            values={p.name: p.value for p in reply.parameters},
            types={p.name: p.type for p in reply.parameters},
            seed=reply.seed, objective_metric=reply.objective_metric)
        with self._lock:
            if self._assignment is None:
                self._assignment = result
            return self._assignment

    def assignment(self) -> Dict[str, str]:
        """``{name: value string}``, exactly as substituted into the trial template."""
        return dict(self.get_assignment().values)

    def params(self) -> Dict[str, Any]:
        """``{name: value}`` typed: int for int, float for double/discrete, str for categorical."""
        return self.get_assignment().typed()

    def seed(self) -> int:
        """The trial's seed, for reproducible training code."""
        return self.get_assignment().seed


# ---- module-level API over one lazily created Reporter --------------------------------------

_default: Optional[Reporter] = None
_default_lock = threading.Lock()


def _reporter() -> Reporter:
    global _default
    with _default_lock:
        if _default is None:
            _default = Reporter()  # RuntimeError when the environment is missing; not cached
        return _default


def report(metrics: Mapping[str, Any], step: Optional[int] = None, final: bool = False) -> int:
    """Reports ``metrics`` for this trial; see ``Reporter.report``."""
    return _reporter().report(metrics, step=step, final=final)


def assignment() -> Dict[str, str]:
    """This trial's parameters as ``{name: value string}``; see ``Reporter.assignment``."""
    return _reporter().assignment()


def params() -> Dict[str, Any]:
    """This trial's parameters, typed; see ``Reporter.params``."""
    return _reporter().params()


def seed() -> int:
    """This trial's seed; see ``Reporter.seed``."""
    return _reporter().seed()


def close() -> None:
    """Closes the module-level Reporter; the next call reads the environment again."""
    global _default
    with _default_lock:
        reporter, _default = _default, None
    if reporter is not None:
        reporter.close()


def report_model(project: str, metrics: Mapping[str, Any], experiment: str = "",
                 model: str = "", time_ms: int = 0, server: Optional[str] = None,
                 token_file: Optional[str] = None, timeout: float = 30.0) -> int:
    """Reports a deployed model's metrics to hptd; returns how many points it stored.

    The points go to ``hpt.v1.StudyService/ReportModelMetrics`` under ``project`` (required),
    ``experiment`` and ``model``, stamped ``time_ms`` (Unix milliseconds; 0: when hptd stores
    them). Retraining triggers that watch the metric evaluate at once. ``server`` is hptd's
    StudyService address, ``unix:/path/hptd.sock`` or ``host:port`` (default ``$HPT_SERVER``);
    over TCP hptd wants its admin token, read from ``token_file`` (default
    ``$HPT_ADMIN_TOKEN_FILE``); TLS as ``open_channel``. The call is not retried: a report is not
    idempotent, and one that failed UNAVAILABLE is left to the caller.

    ValueError for a bad project, metric name or value (nothing is sent); RuntimeError when no
    server is given or the token file cannot be read; HptError when hptd refuses the call.
    """
    if not isinstance(project, str) or not project:
        raise ValueError("project is required: the project the model is deployed under")
    if not metrics:
        raise ValueError("no metrics: give at least one name and value")
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms < 0:
        raise ValueError(f"time_ms is {time_ms!r}; Unix milliseconds >= 0 (0: now)")
    request = study_pb2.ReportModelMetricsRequest(project=project, experiment=experiment,
                                                  model=model)
    for name, value in metrics.items():
        request.metrics.add(name=_metric_name(name), value=_metric_value(name, value),
                            time_ms=time_ms)
    address = server or os.environ.get(ENV_SERVER)
    if not address:
        raise RuntimeError(f"no hptd to report to: pass server= or set {ENV_SERVER} "
                           "(unix:/path/hptd.sock or host:port)")
    metadata = []
    token_path = token_file or os.environ.get(ENV_ADMIN_TOKEN_FILE)
    if token_path:
        try:
            with open(token_path, encoding="utf-8") as f:
                metadata.append(("authorization", "Bearer " + f.read().strip()))
        except OSError as e:
            raise RuntimeError(f"admin token file {token_path}: cannot read it "
                               f"({e.strerror})") from None
    method = "hpt.v1.StudyService/ReportModelMetrics"
    with (grpc.insecure_channel(address) if address.startswith("unix:")
          else open_channel(address)) as channel:
        stub = study_pb2_grpc.StudyServiceStub(channel)
        try:
            reply = stub.ReportModelMetrics(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as e:
            raise HptError(method, e.code(), e.details(), address) from None
    return reply.stored


atexit.register(close)
