"""`QuickStart`: the bundled sample project, end to end on the local stack.

Train a fraud classifier (logged as a run), register it with its reference profile as
the `champion`, deploy the champion to the local agent's environment, then keep traffic
flowing — with a drifting phase and feedback labels — so every page has live data.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass

import orjson

from modelfleet.local._events import DONE, FAILED, STARTED, OnStep, Reporter
from modelfleet.local._fraud import FEATURES
from modelfleet.local._record import StackInfo
from modelfleet.local._stack import LocalStack
from modelfleet.local._traffic import TrafficGenerator, TrafficPlan, example_row
from modelfleet.local._train import EXPERIMENT, PARAMS, TAGS, train
from modelfleet.sdk import log_model, start_run

MODEL = "card-fraud"
DEPLOYMENT = "card-fraud"
ALIAS = "champion"
DEPLOY_TIMEOUT_S = 90.0
DESCRIPTION = "Quick Start: fraud classifier on synthetic card transactions"


@dataclass(frozen=True)
class QuickStartResult:
    """What the Quick Start set up, and where to send requests."""

    run_id: str
    model: str
    version: int
    alias: str
    deployment: str
    environment: str
    rest_url: str
    grpc_target: str
    #: seconds from the start of `run()` until the first request was answered
    seconds_to_traffic: float

    @property
    def predict_url(self) -> str:
        return f"{self.rest_url}/v1/models/{self.deployment}/predict"

    @property
    def infer_url(self) -> str:
        return f"{self.rest_url}/v2/models/{self.deployment}/infer"

    def curl(self) -> str:
        """A ready-to-paste request with named features (the friendly REST API)."""
        body = orjson.dumps({"instances": [example_row()]}).decode()
        return f"curl -s {self.predict_url} -H 'Content-Type: application/json' -d '{body}'"


class QuickStart:
    """Runs the sample project on `stack`; `run()` blocks until traffic flows, then the
    traffic keeps going on its own thread until `stop()`.

    Progress goes to `on_step` as `Step`s named "stack", "train", "register", "deploy"
    and "traffic".
    """

    def __init__(
        self,
        stack: LocalStack,
        on_step: OnStep | None = None,
        plan: TrafficPlan | None = None,
    ) -> None:
        self.stack = stack
        self.plan = plan or TrafficPlan()
        self.traffic: TrafficGenerator | None = None
        self.result: QuickStartResult | None = None
        self._on_step = on_step
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()
        self.stack.cancel()

    def run(self, on_step: OnStep | None = None) -> QuickStartResult:
        """Set everything up and start the traffic; `on_step` overrides the constructor's."""
        on_step = on_step or self._on_step
        report = Reporter(on_step)
        step = "stack"
        try:
            report(step, STARTED, "starting the local hub and agent")
            info = self.stack.start(on_step)
            report(step, DONE, f"hub {info.hub_address}, agent {info.rest_url}")
            with self.stack.connect() as client:
                step = "train"
                report(step, STARTED, "training a fraud classifier on synthetic transactions")
                with start_run(
                    EXPERIMENT, name="sgd-seed0", params={**PARAMS, "seed": 0}, tags=TAGS,
                    client=client,
                ) as run:  # fmt: skip
                    trained = train(run, cancelled=self._cancel.is_set)
                    auc = trained.metrics["val_auc"]
                    report(step, DONE, f"run {run.id[:8]} logged (validation AUC {auc:.3f})")
                    step = "register"
                    report(step, STARTED, "converting to ONNX and registering with a profile")
                    version = log_model(
                        trained.pipeline, MODEL, sample_input=trained.x_validation,
                        reference_data=trained.x_train, feature_names=FEATURES, alias=ALIAS,
                        run=run, description=DESCRIPTION,
                    ).version  # fmt: skip
                run_id = run.id
                report(step, DONE, f"{MODEL} version {version} is the {ALIAS}")
                step = "deploy"
                report(step, STARTED, f"deploying {MODEL}@{ALIAS} to '{info.environment}'")
                client.deploy(
                    DEPLOYMENT, info.environment, MODEL, alias=ALIAS, reason="Quick Start"
                )
            self._wait_served(info, version)
            report(step, DONE, f"serving at {info.rest_url}/v2/models/{DEPLOYMENT}")
            step = "traffic"
            report(step, STARTED, "sending traffic (inputs drift after a while)")
            self.traffic = TrafficGenerator(info.rest_url, DEPLOYMENT, self.plan)
            self.traffic.start()
            self._wait_first_answer(self.traffic)
            seconds = report.elapsed_s
            report(step, DONE, f"live traffic after {seconds:.1f} s")
        except BaseException as exc:
            report(step, FAILED, str(exc) or type(exc).__name__)
            self.stop()
            raise
        self.result = QuickStartResult(
            run_id=run_id,
            model=MODEL,
            version=version,
            alias=ALIAS,
            deployment=DEPLOYMENT,
            environment=info.environment,
            rest_url=info.rest_url,
            grpc_target=info.grpc_target,
            seconds_to_traffic=round(seconds, 2),
        )
        return self.result

    def stop(self) -> None:
        """Stop the traffic (the stack is the caller's to stop)."""
        if self.traffic is not None:
            self.traffic.stop()

    def _wait_served(self, info: StackInfo, version: int) -> None:
        """Until the agent answers for the deployment with this version."""
        deadline = time.monotonic() + DEPLOY_TIMEOUT_S
        path = f"/v2/models/{DEPLOYMENT}/versions/{version}/ready"
        while not self._cancel.is_set():
            if _http_status(info.agent_http_port, path) == 200:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the local agent did not serve {DEPLOYMENT} version {version} within "
                    f"{DEPLOY_TIMEOUT_S:.0f} s; see {self.stack.paths.logs / 'agent.log'}"
                )
            time.sleep(0.1)
        raise InterruptedError("Quick Start cancelled while deploying")

    def _wait_first_answer(self, traffic: TrafficGenerator) -> None:
        while not self._cancel.is_set():
            stats = traffic.stats()
            if stats.requests > stats.errors:
                return
            if stats.errors >= 20:
                raise RuntimeError(f"the deployment refuses requests: {stats.last_error}")
            time.sleep(0.02)
        raise InterruptedError("Quick Start cancelled")


def _http_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()
