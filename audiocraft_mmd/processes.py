"""Child processes that never outlive the command that started them."""
import contextlib
import os
import signal
import typing as tp


def default_jobs() -> int:
    """Training jobs (or worker processes) run at a time by default: 2, or 1 on a one-core machine."""
    return max(1, min(2, os.cpu_count() or 1))


def _exit_on_sigterm(signum: int, frame: tp.Any) -> None:
    """SIGTERM as an exit that runs the cleanup of `sigterm_as_exit`'s block (Python's default handler skips it)."""
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def sigterm_as_exit() -> tp.Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)``, so ``finally`` clauses and context managers that stop
    child processes run; the previous handler is restored after it."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
