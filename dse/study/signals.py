"""Stop signals end a study, or a training, the way Ctrl-C does: SIGTERM (what schedulers, Kubernetes, systemd and
``kill`` send, e.g. on preemption) and SIGHUP raise ``Stopped`` in the main thread, so the lease is released, Ray is
shut down by its own exit hook, and the same command resumes from the saves (bit for bit).

Ray puts its own SIGTERM handler in place in ``ray.init`` (it exits at once); ``catch_stop_signals`` runs again after
it. Ray's native failure-signal handler, which would print a stack dump and abort a slow exit, is turned off for the
processes dse starts (``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``, read when ray is first imported).
"""

from __future__ import annotations

import os
import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")


_received: list[int] = []
"""the stop signals received, in order: Ray's blocking calls turn any KeyboardInterrupt into a plain one, so the
signal that stopped the process is read from here, not from the exception"""


class Stopped(KeyboardInterrupt):
    """Raised by a stop signal; a KeyboardInterrupt, so whatever cleans up after Ctrl-C runs for it too."""


def _raise_stopped(signum: int, frame) -> None:
    _received.append(signum)
    raise Stopped(signum)


def stopped_by() -> signal.Signals | None:
    """The stop signal that interrupted this process, if one did (else the interrupt was Ctrl-C)."""
    return signal.Signals(_received[0]) if _received else None


_ignored: set[int] = set()
"""stop signals this process was started ignoring (``nohup`` ignores SIGHUP): they stay ignored"""


def catch_stop_signals() -> None:
    """Stop signals raise ``Stopped`` from now on (in the main thread; elsewhere Python cannot take signals), but
    for those the process was started ignoring."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            _ignored.add(signum)
        if signum not in _ignored:
            signal.signal(signum, _raise_stopped)
