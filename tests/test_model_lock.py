"""The shared model's turn-taking: interactive calls before bulk work, first come first served within each."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

from e2rank_demo.models import ModelLock, bulk
from e2rank_demo.models.model_lock import BULK, INTERACTIVE, current_priority


def _queue(lock: ModelLock, order: list[str], name: str, is_bulk: bool) -> threading.Thread:
    """Starts a thread that takes one turn (as bulk work or not) and returns once it is waiting for it."""
    before = lock.waiting()

    def turn() -> None:
        with bulk() if is_bulk else contextlib.nullcontext(), lock:
            order.append(name)

    thread = threading.Thread(target=turn)
    thread.start()
    while lock.waiting() == before:  # waits for the thread to queue (a condition, not a time)
        time.sleep(0.001)
    return thread


def test_a_waiting_search_goes_before_bulk_work_that_queued_earlier() -> None:
    lock, order = ModelLock(), []
    lock.acquire()
    threads = [_queue(lock, order, "influence 1", True), _queue(lock, order, "influence 2", True),
               _queue(lock, order, "search 1", False), _queue(lock, order, "search 2", False)]
    lock.release()
    for thread in threads:
        thread.join(timeout=30)
    assert order == ["search 1", "search 2", "influence 1", "influence 2"]


def test_the_lock_is_re_entrant_and_only_its_holder_releases_it() -> None:
    lock = ModelLock()
    with lock:
        with lock:
            assert lock.holder_depth() == 2
        assert lock.holder_depth() == 1
        errors = []

        def release() -> None:
            try:
                lock.release()
            except RuntimeError as exc:
                errors.append(exc)

        thread = threading.Thread(target=release)
        thread.start()
        thread.join(timeout=30)
        assert errors and "does not hold" in str(errors[0])
    assert lock.holder_depth() == 0


def test_bulk_marks_only_its_own_block() -> None:
    assert current_priority() == INTERACTIVE
    with bulk():
        assert current_priority() == BULK
    assert current_priority() == INTERACTIVE


def test_influence_and_corpus_embedding_are_bulk_work(minilm, small_docs, monkeypatch) -> None:  # noqa: ANN001
    """Leave-one-out influence and a corpus of several batches take the model as bulk work; a search and a
    one-batch upload take it as interactive."""
    from e2rank_demo.pipeline import SearchSession, SearchSettings

    seen: list[int] = []
    original = ModelLock.acquire

    def spy(self, priority=None):  # noqa: ANN001, ANN202
        seen.append(current_priority() if priority is None else priority)
        return original(self, priority)

    monkeypatch.setattr(ModelLock, "acquire", spy)
    many = [dataclasses.replace(d, id=f"{d.id}-{n}", text=f"{d.text} ({n})") for n in range(8) for d in small_docs]
    session = SearchSession.from_documents(many, minilm)  # 40 passages: more than one batch
    corpus, seen[:] = set(seen), []
    SearchSession.from_documents(small_docs, minilm)  # one batch, as a visitor's small upload: interactive
    small, seen[:] = set(seen), []
    result = session.search("why does bread rise", SearchSettings(prompt_docs=3))
    search, seen[:] = set(seen), []
    session.prompt_influence(result)
    assert corpus == {BULK} and small == {INTERACTIVE} and search == {INTERACTIVE}
    assert set(seen) == {BULK} and len(seen) >= 3  # one turn per leave-one-out prompt
