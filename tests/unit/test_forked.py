"""Work in a forked child (`lineage.backfill.forked`): its answer, its failures, its end; and
the shares of the import files several such children write."""

from __future__ import annotations

import os
import time

import pytest

from lineage.backfill.forked import Forked, ForkedError
from lineage.backfill.import_files import NODE_COST, _shares

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")


def test_the_child_answers_from_the_parents_memory() -> None:
    seen = {"numbers": list(range(1000))}
    with Forked(lambda: (os.getpid(), sum(seen["numbers"]))) as child:
        here = os.getpid()
    pid, total = child.result()
    assert total == 499500
    assert pid != here and pid == child.pid


def test_an_error_in_the_child_is_raised_in_the_parent_with_its_message() -> None:
    def fails() -> None:
        raise ValueError("column 3 of row 7 is wrong")

    with Forked(fails, "the writer") as child:
        pass
    with pytest.raises(ForkedError, match=r"the writer failed: ValueError: column 3 of row 7"):
        child.result()


def test_a_child_that_dies_without_an_answer_is_named_with_its_exit_code() -> None:
    with Forked(lambda: os._exit(3), "the writer") as child:
        pass
    with pytest.raises(ForkedError, match=r"the writer died without an answer \(exit code 3\)"):
        child.result()


def test_an_answer_that_cannot_be_sent_is_an_error() -> None:
    with Forked(lambda: (lambda: None), "the writer") as child:  # a lambda cannot be pickled
        pass
    with pytest.raises(ForkedError, match="cannot send its answer"):
        child.result()


def test_an_error_in_the_parent_ends_the_child() -> None:
    with pytest.raises(KeyError), Forked(lambda: time.sleep(120)) as child:
        raise KeyError("the parent's own work failed")
    assert child.pid is not None
    with pytest.raises(ProcessLookupError):  # ended and reaped, not left behind
        os.kill(child.pid, 0)


@pytest.mark.parametrize(("nodes", "relationships", "writers"), [
    (10, 30, 2), (10, 30, 3), (0, 5, 2), (7, 0, 3), (1_075_410, 1_735_639, 2), (5, 5, 8),
    (1, 0, 1)])
def test_the_graph_is_cut_into_shares_of_about_equal_cost(nodes: int, relationships: int,
                                                          writers: int) -> None:
    shares = _shares(nodes, relationships, writers)
    assert len(shares) == writers and [s.special for s in shares] == [True] + [False] * (
        writers - 1)  # the special nodes once, by the first writer (the parent)
    assert [s.nodes[0] for s in shares] == [0] + [s.nodes[1] for s in shares[:-1]]
    assert [s.relationships[0] for s in shares] == [0] + [
        s.relationships[1] for s in shares[:-1]]  # contiguous, in staging order
    assert shares[-1].nodes[1] == nodes and shares[-1].relationships[1] == relationships
    costs = [NODE_COST * (s.nodes[1] - s.nodes[0]) + s.relationships[1] - s.relationships[0]
             for s in shares]
    assert max(costs) - min(costs) <= NODE_COST + 1
