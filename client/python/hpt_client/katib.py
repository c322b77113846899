"""Katib-compatible push reporting: a stand-in for ``kubeflow.katib.report_metrics``.

Training code written for Katib's push collector keeps working under hpt by changing one
import::

    from hpt_client.katib import report_metrics   # was: from kubeflow.katib import report_metrics

    report_metrics({"loss": 0.31, "accuracy": 0.91})

It behaves like Katib's: it reads the trial name from ``KATIB_TRIAL_NAME`` (ValueError when
missing), every value must convert to float (ValueError otherwise), and it sends ONE
``api.v1.beta1.DBManager/ReportObservationLog`` with every metric stamped with the current UTC
time (``%Y-%m-%dT%H:%M:%SZ``) and its value as ``str(value)``. The only difference is the
default address: ``HPT_ENDPOINT`` when set (hpt sets it for every trial), otherwise Katib's
``katib-db-manager.kubeflow:6789``. Katib's protocol has no sequence numbers, so only
UNAVAILABLE is retried, within ``timeout``; a replayed log cannot change a min/max/latest
objective. Errors from the server raise ``hpt_client.HptError`` (a RuntimeError, as Katib's
SDK raises). Thread-safe; each call opens and closes its own channel.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any, Dict, Optional

import grpc

from katib.v1beta1 import api_pb2, api_pb2_grpc

from hpt_client import ENV_ENDPOINT, HptError, open_channel

__all__ = ["report_metrics", "KATIB_DEFAULT_DB_MANAGER_ADDRESS"]

ENV_KATIB_TRIAL_NAME = "KATIB_TRIAL_NAME"
KATIB_DEFAULT_DB_MANAGER_ADDRESS = "katib-db-manager.kubeflow:6789"
_METHOD = "api.v1.beta1.DBManager/ReportObservationLog"


def _default_address() -> str:
    return os.environ.get(ENV_ENDPOINT) or KATIB_DEFAULT_DB_MANAGER_ADDRESS


def report_metrics(metrics: Dict[str, Any], db_manager_address: Optional[str] = None,
                   timeout: float = 120) -> None:
    """Pushes ``metrics`` ({name: number}) for the trial named by ``KATIB_TRIAL_NAME``.

    Args:
        metrics: metric name -> value; each value must convert to float.
        db_manager_address: "host:port" of the DBManager service; defaults to HPT_ENDPOINT,
            then to Katib's ``katib-db-manager.kubeflow:6789``.
        timeout: seconds the whole call (retries included) may take.

    Raises:
        ValueError: KATIB_TRIAL_NAME is not set, or a value does not convert to float.
        HptError: the server answered with an error (``code`` is the grpc.StatusCode).
    """
    trial_name = os.environ.get(ENV_KATIB_TRIAL_NAME)
    if not trial_name:
        raise ValueError(f"the trial name is not in the environment ({ENV_KATIB_TRIAL_NAME} is "
                         "not set); run this under hpt (hpt run study.yaml) or Katib")
    for name, value in metrics.items():
        try:
            float(value)
        except (TypeError, ValueError):
            raise ValueError(f"metric {name!r}: value {value!r} ({type(value).__name__}) does "
                             "not convert to float") from None
    address = db_manager_address or _default_address()
    timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = api_pb2.ReportObservationLogRequest(
        trial_name=trial_name,
        observation_log=api_pb2.ObservationLog(metric_logs=[
            api_pb2.MetricLog(time_stamp=timestamp,
                              metric=api_pb2.Metric(name=name, value=str(value)))
            for name, value in metrics.items()
        ]))
    deadline = time.monotonic() + timeout
    backoff = 0.1
    with open_channel(address) as channel:
        stub = api_pb2_grpc.DBManagerStub(channel)
        while True:
            remaining = deadline - time.monotonic()
            try:
                stub.ReportObservationLog(request, timeout=max(remaining, 0.001))
                return
            except grpc.RpcError as e:
                code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
                details = (e.details() if hasattr(e, "details") else None) or str(e)
                retry = (code == grpc.StatusCode.UNAVAILABLE
                         and deadline - time.monotonic() > backoff)
                if not retry:
                    raise HptError(_METHOD, code, details, address) from None
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
