"""The output thread (wirescore.outputs.background): order, flush, failures."""
import threading

from wirescore.outputs.background import BackgroundWriter


def test_jobs_run_in_order_and_flush_waits_for_them():
    gate = threading.Event()
    seen = []
    w = BackgroundWriter(depth=8)
    w.submit(gate.wait)                  # holds the thread until released
    for i in range(5):
        w.submit(seen.append, i)
    assert seen == []
    gate.set()
    w.flush()
    assert seen == [0, 1, 2, 3, 4]       # everything submitted before flush() has run
    w.close()


def test_flush_after_a_failure_raises_it_and_does_not_hang():
    w = BackgroundWriter()

    def fail():
        raise OSError(28, "No space left on device")

    seen = []
    gate = threading.Event()
    w.submit(gate.wait)                  # both jobs queued before the failure happens
    w.submit(fail)
    w.submit(seen.append, "skipped")     # jobs after a failure are not run
    gate.set()
    raised = []

    def flush():
        try:
            w.flush()
        except OSError as exc:
            raised.append(exc)

    t = threading.Thread(target=flush, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "flush() hung after a failed job"
    assert len(raised) == 1 and "No space left" in str(raised[0])
    assert seen == []
    w.close()                            # the failure was raised once, close is clean
