"""The local-server gate: calls to one server overlap, calls to two servers never do, test time goes first."""

import threading
import time

from programs.lm.gate import ServerGate


def _call(gate, server, phase, log, seconds=0.05):
    with gate.hold(server, phase):
        log.append(("start", server, phase, time.perf_counter()))
        time.sleep(seconds)
        log.append(("end", server, phase, time.perf_counter()))


def _run(*threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)


def test_calls_to_one_server_overlap_and_calls_to_two_servers_do_not():
    gate, log = ServerGate(), []
    same = [threading.Thread(target=_call, args=(gate, "a", "test", log, 0.2)) for _ in range(2)]
    _run(*same)
    starts = [e[3] for e in log if e[0] == "start"]
    assert abs(starts[0] - starts[1]) < 0.15  # the second did not wait for the first

    gate, log = ServerGate(), []
    _run(threading.Thread(target=_call, args=(gate, "a", "test", log, 0.2)),
         threading.Thread(target=_call, args=(gate, "b", "sleep", log, 0.2)))
    events = [(e[0], e[1]) for e in sorted(log, key=lambda e: e[3])]
    first = events[0][1]
    assert events[:2] == [("start", first), ("end", first)]  # the other server waited for the end
    assert gate.owner is None


def test_a_waiting_test_call_goes_before_a_waiting_sleep_call():
    gate, log = ServerGate(), []
    holder = threading.Thread(target=_call, args=(gate, "busy", "sleep", log, 0.3))
    holder.start()
    time.sleep(0.05)
    sleeper = threading.Thread(target=_call, args=(gate, "big", "sleep", log))
    sleeper.start()
    time.sleep(0.05)
    tester = threading.Thread(target=_call, args=(gate, "small", "test", log))
    tester.start()
    for t in (holder, sleeper, tester):
        t.join(timeout=10)
    order = [e[1] for e in sorted(log, key=lambda e: e[3]) if e[0] == "start"]
    assert order == ["busy", "small", "big"]  # the test call arrived later but ran first
