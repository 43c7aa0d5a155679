"""Work done in a forked child process beside the parent's, on the parent's memory as it was at
the fork (copy-on-write): what a backfill's second core is for while the first writes files.

    with Forked(lambda: write_second_half(graph)) as second:
        first = write_first_half(graph)
    files = first + second.result()

The child's return value comes back pickled; an exception in it is raised in the parent as a
`ForkedError` with the child's message (type and text, no traceback); a child that
dies without an answer (killed, out of memory) is a `ForkedError` naming its exit code. Leaving
the `with` block early (an error in the parent) ends the child.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class ForkedError(RuntimeError):
    """The child's work failed, or the child died before it answered."""


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _run_child(work: Callable[[], object], answer: Connection) -> None:
    try:
        outcome: tuple[bool, object] = (True, work())
    except BaseException as exc:  # every failure goes back to the parent
        outcome = (False, f"{type(exc).__name__}: {exc}")
    try:
        answer.send(outcome)
    except Exception as exc:  # an answer that cannot be pickled
        answer.send((False, f"cannot send its answer: {type(exc).__name__}: {exc}"))
    answer.close()


class Forked(Generic[T]):
    """`work` run in a forked child from the start of the `with` block; `result()` waits."""

    def __init__(self, work: Callable[[], T], name: str = "lineage-forked"):
        self.work, self.name = work, name
        self._answer: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> Forked[T]:
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_run_child, args=(self.work, send),
                                        name=self.name, daemon=True)
        self._process.start()
        send.close()  # the child holds its end: when it dies, the parent's read ends
        self._answer = receive
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is not None:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def result(self) -> T:
        assert self._answer is not None and self._process is not None, "use in a with block"
        try:
            succeeded, value = self._answer.recv()
        except EOFError:
            self._process.join()
            raise ForkedError(f"{self.name} died without an answer (exit code "
                              f"{self._process.exitcode})") from None
        finally:
            self._answer.close()
        self._process.join()
        if not succeeded:
            raise ForkedError(f"{self.name} failed: {value}")
        return cast(T, value)

    def _stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join()
        if self._answer is not None:
            self._answer.close()
