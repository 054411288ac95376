"""Read the events out of an Event Grid delivery: Event Grid schema or CloudEvents 1.0.

Event Grid posts a JSON array of Event Grid events (``eventType``, ``eventTime``,
``data``), or CloudEvents 1.0 in structured mode: one event object
(``application/cloudevents+json``) or an array (``application/cloudevents-batch+json``),
each with ``specversion``, ``type``, ``time`` and ``data``. Both carry the same ``data``
object for an ACS event, so the parser works from ``data`` and the event type and never
from schema-specific fields (an event keeps one identity whichever schema delivered it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from archive.meta.shapes import text

Schema = Literal["eventgrid", "cloudevents", "unknown"]


@dataclass(frozen=True)
class Envelope:
    """One delivered event, with its schema told apart."""

    path: str  # "events[3]" or "event": for problems, never content
    schema: Schema
    event_type: str | None
    data: object  # the event's ``data`` as delivered (normally an object)
    time: object  # eventTime / time: when Event Grid says the event happened
    item: dict[str, Any]  # the whole envelope, verbatim

    @property
    def data_object(self) -> dict[str, Any] | None:
        return self.data if isinstance(self.data, dict) else None


def _envelope(path: str, item: dict[str, Any]) -> Envelope:
    # "specversion" is mandatory in CloudEvents and absent from the Event Grid schema.
    if "specversion" in item:
        data = item["data"] if "data" in item else item.get("data_base64")
        return Envelope(path, "cloudevents", text(item, "type"), data, item.get("time"), item)
    if "eventType" in item:
        return Envelope(path, "eventgrid", text(item, "eventType"), item.get("data"),
                        item.get("eventTime"), item)
    return Envelope(path, "unknown", None, None, None, item)


def envelopes(document: object, problems: list[str]) -> list[Envelope]:
    """The events of a decoded body in delivery order; what is not an object is a problem."""
    if isinstance(document, dict):
        return [_envelope("event", document)]
    if not isinstance(document, list):
        problems.append("body is neither an event object nor an array of events")
        return []
    found: list[Envelope] = []
    for index, item in enumerate(document):
        path = f"events[{index}]"
        if isinstance(item, dict):
            found.append(_envelope(path, item))
        else:
            problems.append(f"{path}: not an object")
    return found
