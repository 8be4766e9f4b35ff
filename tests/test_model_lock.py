"""The shared model's turn-taking: interactive calls before bulk work, first come first served within each."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

import numpy as np

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

    def spy(self, priority=None, exclusive=False):  # noqa: ANN001, ANN202
        seen.append(current_priority() if priority is None else priority)
        return original(self, priority, exclusive)

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


def _hold(lock: ModelLock, held: threading.Event, release: threading.Event, exclusive: bool = False) -> threading.Thread:
    """A thread that takes the lock (one slot, or all), says so, and keeps it until ``release`` is set."""

    def body() -> None:
        lock.acquire(exclusive=exclusive)
        held.set()
        release.wait(30)
        lock.release()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def test_slots_let_that_many_passes_run_at_once_and_the_next_waits() -> None:
    lock, release = ModelLock(slots=2), threading.Event()
    first, second, third = threading.Event(), threading.Event(), threading.Event()
    holders = [_hold(lock, first, release), _hold(lock, second, release)]
    assert first.wait(30) and second.wait(30)  # both slots taken at once
    waiting = _hold(lock, third, release)
    while lock.waiting() == 0:  # the third queues (a condition, not a time)
        time.sleep(0.001)
    assert not third.is_set()
    release.set()
    assert third.wait(30)
    for thread in [*holders, waiting]:
        thread.join(timeout=30)
    assert lock.holder_depth() == 0 and lock.waiting() == 0


def test_exclusive_waits_for_every_slot_and_keeps_others_out() -> None:
    lock = ModelLock(slots=2)
    release_shared, release_exclusive = threading.Event(), threading.Event()
    shared, exclusive, later = threading.Event(), threading.Event(), threading.Event()
    holder = _hold(lock, shared, release_shared)
    assert shared.wait(30)
    owner = _hold(lock, exclusive, release_exclusive, exclusive=True)
    while lock.waiting() == 0:
        time.sleep(0.001)
    assert not exclusive.is_set()  # one slot is free, but not all of them
    release_shared.set()
    assert exclusive.wait(30)
    newcomer = _hold(lock, later, release_shared)
    while lock.waiting() == 0:
        time.sleep(0.001)
    assert not later.is_set()  # a free slot count is not enough while the model is held exclusively
    release_exclusive.set()
    assert later.wait(30)
    for thread in (holder, owner, newcomer):
        thread.join(timeout=30)


def test_a_slot_holder_cannot_take_every_slot() -> None:
    lock = ModelLock(slots=2)
    with lock:
        try:
            lock.acquire(exclusive=True)
        except RuntimeError as exc:
            assert "cannot take all" in str(exc)
        else:  # pragma: no cover - the failure this test exists for
            raise AssertionError("an upgrade to exclusive was granted")
    with lock.exclusive(), lock:  # re-entrant inside an exclusive hold
        assert lock.holder_depth() == 2


def test_documents_in_several_slots_equal_one_slot_and_stay_bulk_work(minilm, small_docs, monkeypatch) -> None:  # noqa: ANN001
    """With two slots a corpus's batches run two at a time: the same vectors, each batch still bulk work."""
    texts = [f"{d.title} {d.text} ({n})" for n in range(6) for d in small_docs]
    one = minilm.embed_documents(texts, batch_size=4)
    seen: list[tuple[str, int]] = []
    original = ModelLock.acquire

    def spy(self, priority=None, exclusive=False):  # noqa: ANN001, ANN202
        seen.append((threading.current_thread().name, current_priority() if priority is None else priority))
        return original(self, priority, exclusive)

    monkeypatch.setattr(minilm, "_lock", ModelLock(slots=2))
    monkeypatch.setattr(ModelLock, "acquire", spy)
    progress: list[int] = []
    with bulk():
        two = minilm.embed_documents(texts, batch_size=4, progress=lambda done, total: progress.append(done))
    np.testing.assert_allclose(two, one, atol=1e-6)
    assert {name.split("_")[0] for name, _ in seen} == {"e2rank-slot"}  # helper threads ran the batches
    assert {priority for _, priority in seen} == {BULK}  # the bulk marker reached them
    assert progress[-1] == len(texts) and progress == sorted(progress)


def test_an_adapter_embeds_documents_without_switching_the_model_under_a_query(monkeypatch) -> None:
    """Documents go through the base model while another slot encodes queries with the adapted one."""
    from e2rank_demo.models import load_embedder

    trained = load_embedder("minilm-e2rank").embedder
    if trained.document_model is trained.model:  # pragma: no cover - a preset whose documents use the adapter
        return
    query = ["aspirin and heart attack"]
    expected = trained.embed_queries(query)
    monkeypatch.setattr(trained, "_lock", ModelLock(slots=2))
    docs = ["Aspirin lowers the risk of heart attack. " * 20] * 64
    model = trained.model
    done = threading.Event()
    answers = []

    def queries() -> None:
        while not done.is_set():
            answers.append(trained.embed_queries(query))

    thread = threading.Thread(target=queries)
    thread.start()
    try:
        trained.embed_documents(docs, batch_size=8)
    finally:
        done.set()
        thread.join(timeout=60)
    assert trained.model is model and answers
    for vector in answers:
        np.testing.assert_allclose(vector, expected, atol=1e-5)
