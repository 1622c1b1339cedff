"""The shell channel carries the guard's report (description, weights, probe outputs), which
is larger than the output limit: its frame cap is the report's limit, the others keep theirs."""
from __future__ import annotations

import pytest
import zmq

from grader.execute.channels import HEADROOM, CappedKernelClient
from grader.execute.runner import _report_limit
from grader.settings import Settings

pytestmark = pytest.mark.fast


def _caps(message_cap: int, shell_cap: int) -> dict[str, int]:
    kc = CappedKernelClient(message_cap=message_cap, shell_cap=shell_cap, ip="127.0.0.1",
                            shell_port=45671, iopub_port=45672, stdin_port=45673,
                            control_port=45674, hb_port=45675)
    caps = {}
    for channel in ("shell", "iopub", "control"):
        socket = kc._create_connected_socket(channel)
        caps[channel] = socket.getsockopt(zmq.MAXMSGSIZE)
        socket.close(linger=0)
    return caps


def test_the_shell_channel_accepts_a_report_larger_than_the_output_limit():
    caps = _caps(1000, 50_000)
    assert caps["shell"] == 50_000
    assert caps["iopub"] == caps["control"] == 1000


def test_without_a_shell_cap_every_channel_keeps_the_message_cap():
    assert set(_caps(1000, 0).values()) == {1000}


def test_the_report_limit_exceeds_the_output_limit_by_default():
    """The solution's report (2.8 MB of weights as base64, probe summaries) is over 5 MB."""
    settings = Settings()
    assert _report_limit(settings) + HEADROOM > settings.output_limit_bytes + HEADROOM
