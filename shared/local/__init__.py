"""Local mode: a hub and an agent on this machine as child processes, and the Quick Start."""

from modelfleet.local._children import LocalStackError
from modelfleet.local._events import DONE, FAILED, STARTED, OnStep, Step
from modelfleet.local._quickstart import QuickStart, QuickStartResult
from modelfleet.local._record import StackInfo
from modelfleet.local._stack import ADMIN, ENVIRONMENT, WORKSPACE, LocalStack
from modelfleet.local._summary import LiveSummary, summarise, watch
from modelfleet.local._traffic import TrafficGenerator, TrafficPlan, TrafficStats

__all__ = [
    "ADMIN",
    "DONE",
    "ENVIRONMENT",
    "FAILED",
    "STARTED",
    "WORKSPACE",
    "LiveSummary",
    "LocalStack",
    "LocalStackError",
    "OnStep",
    "QuickStart",
    "QuickStartResult",
    "StackInfo",
    "Step",
    "TrafficGenerator",
    "TrafficPlan",
    "TrafficStats",
    "summarise",
    "watch",
]
