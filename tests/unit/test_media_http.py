"""Chunking, the short-body check and the deadline of storage.media_http, without a network."""

from __future__ import annotations

from collections.abc import Iterable
from http.client import HTTPResponse
from typing import cast

import pytest

from storage.media_http import Deadline, MediaFetchError, read_chunks

pytestmark = pytest.mark.unit


class Pieces:
    """What successive socket reads bring: read1 never returns more than one piece."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces = list(pieces)
        self.reads = 0

    def read1(self, n: int) -> bytes:
        self.reads += 1
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > n:
            self.pieces.insert(0, piece[n:])
            piece = piece[:n]
        return piece


def chunks(pieces: Iterable[bytes], size: int, length: int | None) -> list[bytes]:
    response = cast(HTTPResponse, Pieces(pieces))
    return list(read_chunks(response, Deadline(60), size, length))


def test_small_reads_are_gathered_into_full_chunks() -> None:
    body = bytes(range(256)) * 10
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    got = chunks(pieces, 1000, len(body))
    assert [len(c) for c in got] == [1000, 1000, 560]
    assert b"".join(got) == body


def test_a_body_of_whole_chunks_ends_without_an_empty_chunk() -> None:
    assert chunks([b"a" * 10, b"b" * 10], 10, 20) == [b"a" * 10, b"b" * 10]
    assert chunks([], 10, 0) == []


def test_a_body_shorter_than_its_content_length_fails() -> None:
    with pytest.raises(MediaFetchError, match="ended before its Content-Length"):
        chunks([b"x" * 15], 10, 20)


def test_without_content_length_the_end_of_the_body_is_the_end() -> None:
    assert chunks([b"x" * 15], 10, None) == [b"x" * 10, b"x" * 5]


def test_a_passed_deadline_stops_the_reading_before_the_next_read() -> None:
    response = Pieces([b"x"] * 5)
    reader = read_chunks(cast(HTTPResponse, response), Deadline(0), 10, 5)
    with pytest.raises(MediaFetchError, match="deadline of 0 s passed"):
        next(reader)
    assert response.reads == 0


def test_socket_timeout_never_exceeds_the_attempt_budget() -> None:
    assert Deadline(5).socket_timeout() <= 5
    assert Deadline(600).socket_timeout() == 30  # the per-operation cap
    with pytest.raises(MediaFetchError, match="deadline"):
        Deadline(0).socket_timeout()
