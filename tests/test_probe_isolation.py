"""The killable child behind sslyze and the HTML reader (scanner/probes/isolation.py): its
answer, its time bound, its memory cap and its answer cap, each met and each exceeded."""

from __future__ import annotations

import os
import time

import pytest

from scanner.probes import isolation


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes << 20))


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def answer_of(megabytes: int) -> str:
    return "x" * (megabytes << 20)


def crash() -> None:
    os._exit(7)


def test_an_answer_comes_back_decoded():
    assert isolation.call(allocate, (100,), 10) == 100 << 20
    assert isolation.call(sleep, (0.1,), 10) == "woke"


def test_a_child_past_its_time_is_killed_at_once():
    started = time.monotonic()
    with pytest.raises(isolation.ChildTimeout, match="did not finish within 1 s"):
        isolation.call(sleep, (60,), 1)
    assert time.monotonic() - started < 3


def test_a_child_past_its_memory_cap_fails_without_taking_the_scanner():
    with pytest.raises(isolation.ChildFailure, match="needed more than 2048 MiB"):
        isolation.call(allocate, ((isolation.MAX_MEMORY >> 20) + 512,), 30)


def test_an_answer_over_the_cap_is_refused():
    assert len(isolation.call(answer_of, (1,), 30)) == 1 << 20
    with pytest.raises(isolation.ChildFailure, match="larger than 8 MiB"):
        isolation.call(answer_of, ((isolation.MAX_ANSWER >> 20) + 1,), 30)


def test_a_child_that_dies_is_a_failure_not_an_answer():
    with pytest.raises(isolation.ChildFailure, match="exit status 7"):
        isolation.call(crash, (), 10)
