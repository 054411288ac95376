"""Readable text of an RSMF production: who the participants are and what each event says.

Pure helpers for :mod:`archive.export.rsmf`. Provider text is copied as it is (the JSON
writer escapes it); nothing here decides structure, only what a reviewer reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from archive.export.conversation import Conversation, Entry

UNKNOWN_PARTICIPANT = "(not recorded)"


def custom_fields(pairs: Sequence[tuple[str, str | None]]) -> list[dict[str, str]]:
    """RSMF ``custom`` items; the schema wants non-empty strings for name and value."""
    return [{"name": name, "value": value} for name, value in pairs if value]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json_text(value: object, limit: int = 2000) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
    return text if len(text) <= limit else text[:limit] + " [cut; the archive record has all]"


class People:
    """Who is who: profile names the records carry, the firm's side, and whether a group."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.names: dict[str, list[str]] = {}  # id -> profile names, the latest last
        self.usernames: dict[str, str] = {}
        self.group = False
        firm: dict[str, None] = {}
        for entry in conversation.entries:
            content = _dict(entry.record.get("content"))
            self.group |= bool(content.get("group_id")) or content.get("recipient_type") == "group"
            contact = _dict(content.get("contact"))
            name, username = contact.get("name"), contact.get("username")
            for key in ("wa_id", "user_id", "parent_user_id"):
                pid = contact.get(key)
                if isinstance(pid, str) and pid and isinstance(name, str) and name.strip():
                    names = self.names.setdefault(pid, [])
                    if name in names:
                        names.remove(name)
                    names.append(name)
                if isinstance(pid, str) and pid and isinstance(username, str) and username:
                    self.usernames[pid] = username
            if entry.kind == "message" and entry.direction == "outbound" and entry.sender:
                firm.setdefault(entry.sender, None)
            if entry.kind == "message" and entry.direction == "inbound":
                firm.update(dict.fromkeys(entry.recipients))
        firm.pop(conversation.customer_id, None)
        # The firm shows in from/to as its display number; phone_number_id is the fallback.
        self.custodian = next(iter(firm), None) or conversation.business_id or None
        self.firm = set(firm) | {conversation.business_id}

    def name(self, pid: str) -> str | None:
        """The latest WhatsApp profile name the records show for ``pid``."""
        names = self.names.get(pid)
        return names[-1] if names else None

    def label(self, pid: str) -> str:
        name = self.name(pid)
        return f"{name} ({pid})" if name else pid

    def participant(self, pid: str) -> dict[str, Any]:
        if pid == UNKNOWN_PARTICIPANT:
            return {"id": pid, "display": "Participant not recorded"}
        names = self.names.get(pid, [])
        customer = self.conversation.customer_id
        role = ("firm" if pid in self.firm else "group" if self.group and pid == customer
                else "group member" if self.group else "customer")
        display = names[-1] if names else (f"{pid} (firm)" if role == "firm" else pid)
        custom = custom_fields([("Role", role), ("Username", self.usernames.get(pid)),
                               ("Earlier profile names", "; ".join(names[:-1]))])
        found: dict[str, Any] = {"id": pid, "display": display, "account_id": pid}
        return found | ({"custom": custom} if custom else {})

    def conversation_display(self) -> str:
        customer = self.conversation.customer_id
        if self.group:
            return f"WhatsApp group {customer}"
        if not customer:
            return f"WhatsApp notices for {self.conversation.business_id}"
        return f"WhatsApp chat with {self.label(customer)}"


def _detail(content: dict[str, Any]) -> str | None:
    """Readable text of the message types that carry no plain text."""
    location, interactive, button = (_dict(content.get(k)) for k in
                                     ("location", "interactive", "button"))
    if location:
        where = ", ".join(str(location[k]) for k in ("name", "address", "url") if location.get(k))
        return f"Location: {where} ({location.get('latitude')}, {location.get('longitude')})"
    if isinstance(content.get("contacts"), list):
        cards = [f"{_dict(c.get('name')).get('formatted_name') or '?'} "
                 + " ".join(str(_dict(p).get("phone")) for p in c.get("phones") or ())
                 for c in content["contacts"] if isinstance(c, dict)]
        return "Contact card: " + "; ".join(card.strip() for card in cards)
    if interactive:
        keys = ("title", "description", "name", "body", "response_json")
        return "Reply: " + " | ".join(str(interactive[k]) for k in keys if interactive.get(k))
    if button:
        return f"Button: {button.get('text') or button.get('payload') or ''}"
    if content.get("order"):
        return f"Order: {_json_text(content['order'])}"
    return None


def _call_body(entry: Entry) -> str:
    call = entry.call
    if call is None:
        return "WhatsApp call"
    who = {"business_initiated": "from the firm", "user_initiated": "from the customer"}.get(
        call.direction or "", "(direction not recorded)")
    parts = [f"WhatsApp call {who}", f"outcome: {call.outcome or 'not recorded'}"]
    if call.duration_seconds is not None:
        minutes, seconds = divmod(call.duration_seconds, 60)
        parts.append(f"duration: {minutes} min {seconds} s")
    if call.start_time or call.end_time:
        parts.append(f"start {call.start_time or '?'}, end {call.end_time or '?'}")
    return "; ".join(parts)


def event_body(entry: Entry) -> str:
    """What the reviewer reads as the event: text, a described call, notice or gap."""
    content = _dict(entry.record.get("content"))
    if entry.kind == "call":
        return _call_body(entry)
    if entry.is_orphan:
        return f"[{entry.kind} of message {entry.message_id}, which is not in this export]"
    if entry.kind == "system" and isinstance(_dict(content.get("system")).get("body"), str):
        return str(content["system"]["body"])
    if entry.kind != "message":  # system notices and unknown content: the provider's JSON
        return f"[{entry.type}] {_json_text(entry.record.get('fragment'))}"
    parts = [part for part in (entry.text, _detail(content)) if part]
    return "\n".join(parts) if parts or entry.media else f"[{entry.type}]"


def media_gap(media: Mapping[str, Any]) -> str:
    state = media.get("state")
    why = ("stored in the archive but not included in this file" if state == "stored"
           else media.get("reason") or state or "no reason recorded")
    name = f", file name {media['filename']}" if media.get("filename") else ""
    return (f"[{media.get('kind') or 'media'} not included: {why}; "
            f"media id {media.get('media_id')}{name}]")
