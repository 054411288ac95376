"""Two attempts at one media item racing into the same blob name (issue 21, item 9).

Durable can run a second attempt of an activity while the first still streams
(a lost lease, a host restart). Both stage blocks under the same blob name before
either commits. If their block ids collide, one attempt's Put Block replaces the
other's uncommitted block, and the committed blob mixes both attempts' bytes under
one attempt's sha256. The test forces the worst interleaving deterministically:
the two attempts take turns, one chunk each, so every Put Block of one attempt is
followed by the other's Put Block of the same index before anybody commits.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from archive.names import MEDIA_CONTAINER
from storage.media import StoredMedia, store_chunks
from storage.provision import ensure_archive_resources

pytestmark = pytest.mark.azurite

CHUNK = 64 * 1024
CHUNKS = 6
WAIT_SECONDS = 60.0


class TakeTurns:
    """Lets two threads run one step each in turn: A, B, A, B, ..."""

    def __init__(self, first: str, second: str) -> None:
        self._other = {first: second, second: first}
        self._turn = first
        self._done: set[str] = set()
        self._cond = threading.Condition()

    def pass_and_wait(self, me: str) -> None:
        with self._cond:
            if self._turn == me:
                self._turn = self._other[me]
                self._cond.notify_all()
            waited = self._cond.wait_for(
                lambda: self._turn == me or self._other[me] in self._done, WAIT_SECONDS
            )
            assert waited, "the other attempt never took its turn"

    def finish(self, me: str) -> None:
        with self._cond:
            self._done.add(me)
            self._turn = self._other[me]
            self._cond.notify_all()


def taking_turns(data: bytes, me: str, turns: TakeTurns) -> Iterator[bytes]:
    """The attempt's download: each chunk (and the end) only on this attempt's turn.

    The attempt's work between two reads (staging the previous chunk) therefore
    runs while the other attempt waits: their Put Block calls strictly alternate.
    """
    for start in range(0, len(data), CHUNK):
        turns.pass_and_wait(me)
        yield data[start : start + CHUNK]
    turns.pass_and_wait(me)


def test_racing_attempts_leave_one_consistent_blob(azurite_conn: str) -> None:
    ensure_archive_resources(azurite_conn)
    container = BlobServiceClient.from_connection_string(azurite_conn).get_container_client(
        MEDIA_CONTAINER
    )
    path = f"tests/race/{uuid.uuid4().hex}.mp4"
    data = {"A": os.urandom(CHUNK * CHUNKS), "B": os.urandom(CHUNK * CHUNKS)}
    turns = TakeTurns("A", "B")
    results: dict[str, StoredMedia] = {}
    errors: list[BaseException] = []

    def attempt(me: str) -> None:
        try:
            results[me] = store_chunks(
                container, path, taking_turns(data[me], me, turns),
                max_bytes=len(data[me]), content_type="video/mp4", expected_sha256=None,
            )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            turns.finish(me)

    threads = [threading.Thread(target=attempt, args=(me,)) for me in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 2)
    assert not errors, errors
    assert set(results) == {"A", "B"}

    blob = container.get_blob_client(path)
    stored = blob.download_blob().readall()
    winners = [me for me in ("A", "B") if stored == data[me]]
    assert winners, "the committed blob mixes both attempts' blocks"
    (winner,) = winners
    digest = hashlib.sha256(data[winner]).hexdigest()
    assert blob.get_blob_properties().metadata["sha256"] == digest
    # Both attempts report what is stored: the loser found the winner's blob.
    assert results["A"].sha256 == results["B"].sha256 == digest
    assert results["A"].size == results["B"].size == len(stored)
