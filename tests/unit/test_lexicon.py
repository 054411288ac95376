"""The lexicon policy core (issue #16): normalisation, matching, scopes, records, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.events import CanonicalEvent, MediaRef
from archive.lexicon import (
    Context,
    PolicyError,
    compile_policy,
    normalize,
    parse_pattern,
    parse_policy,
    policy_from_json,
    tokenize,
)
from archive.meta.parser import parse_webhook
from archive.record import RawRef, build_record
from cli.main import main
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "lexicon.json"
RAW = RawRef(path="year=2024/month=05/day=31/" + "a" * 64 + ".json", sha256="a" * 64)
RECEIVED = datetime(2024, 5, 31, 16, 9, tzinfo=UTC)
BUSINESS, CUSTOMER = "106540352242922", "16315551181"


def _policy(*rules: dict[str, Any], exceptions: list[str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": "wa-archive/lexicon@1", "name": "test", "rules": list(rules)}
    if exceptions is not None:
        doc["exceptions"] = exceptions
    return doc


def _compiled(*rules: dict[str, Any], exceptions: list[str] | None = None):
    return compile_policy(parse_policy(_policy(*rules, exceptions=exceptions)))


def _ids(compiled, text: str, context: Context | None = None) -> list[str]:
    return [hit.rule for hit in compiled.match(text, context)]


# --- normalisation -----------------------------------------------------------------------

def test_case_nfkc_and_diacritics_fold() -> None:
    assert normalize("GUARANTEE Return") == "guarantee return"
    assert normalize("\uff27\uff35\uff21\uff32\uff21\uff2e\uff34\uff25\uff25") == "guarantee"
    assert normalize("garant\u00eda") == normalize("garantia") == "garantia"
    assert normalize("garanti\u0301a") == "garantia"  # combining acute, not precomposed
    assert normalize("Garantie") == "garantie"
    assert normalize("Stra\u00dfe") == "strasse"
    assert normalize("\ufb01nal") == "final"  # the fi ligature


def test_punctuation_whitespace_and_apostrophes() -> None:
    assert normalize("off-the-record") == normalize("OFF,  the\n\trecord!") == "off the record"
    assert normalize("don't don\u2019t dont") == "don't don't dont"
    assert normalize("'quoted' it's") == "quoted it's"
    assert normalize("guar\u00adantee gua\u200drantee") == "guarantee guarantee"
    assert normalize("10% return") == "10 return"


def test_token_offsets_point_into_the_original() -> None:
    text = "Off\u2013THE  r\u00e9cord"
    assert [(t.key, text[t.start:t.end]) for t in tokenize(text)] == [
        ("off", "Off"), ("the", "THE"), ("record", "r\u00e9cord")]
    text = "re\u0301cord!"
    (token,) = tokenize(text)
    assert text[token.start:token.end] == "re\u0301cord"


# --- matching ----------------------------------------------------------------------------

def test_phrase_matches_across_case_width_accents_and_punctuation() -> None:
    compiled = _compiled({"id": "otr", "pattern": "off the record"},
                         {"id": "gar", "pattern": "garant\u00eda"})
    assert _ids(compiled, "Keep this OFF-THE-RECORD please") == ["otr"]
    assert _ids(compiled, "\uff4f\uff46\uff46 the record") == ["otr"]
    assert _ids(compiled, "off the records") == []  # whole tokens only
    assert _ids(compiled, "Sin garantia. Con GARANT\u00cdA.") == ["gar", "gar"]
    (hit,) = compiled.match("x  Off -- the\nrecord.")
    assert hit.matched == ("Off -- the\nrecord",) and hit.spans == ((3, 20),)
    assert hit.tokens == (1, 4)


@pytest.mark.parametrize(("text", "hit"), [
    ("guarantee return", True),  # 0 between
    ("guarantee a b c return", True),  # 3 between: the boundary
    ("guarantee a b c d return", False),  # 4 between
    ("return a b c guarantee", True),  # either order
    ("return a b c d guarantee", False),
])
def test_near_boundary(text: str, hit: bool) -> None:
    compiled = _compiled({"id": "g", "pattern": "guarantee NEAR/3 return"})
    assert bool(compiled.match(text)) is hit


def test_near_with_phrases_and_zero_distance() -> None:
    compiled = _compiled({"id": "p", "pattern": "my personal NEAR/0 phone number"})
    (hit,) = compiled.match("on My Personal phone-number")
    assert hit.matched == ("My Personal", "phone-number") and hit.tokens == (1, 5)
    assert _ids(compiled, "my personal mobile phone number") == []
    assert _ids(compiled, "phone number my personal") == ["p"]


def test_near_reports_every_pair() -> None:
    compiled = _compiled({"id": "g", "pattern": "guarantee NEAR/2 return"})
    hits = compiled.match("return guarantee return")
    assert [hit.tokens for hit in hits] == [(0, 2), (1, 3)]


def test_rule_and_policy_exceptions_suppress_only_overlapping_hits() -> None:
    compiled = _compiled(
        {"id": "g", "pattern": "guarantee NEAR/3 return", "exceptions": ["tax return"]},
        {"id": "d", "pattern": "delete this"},
        exceptions=["no guarantee"])
    assert _ids(compiled, "we guarantee your tax return") == []  # rule exception
    assert _ids(compiled, "there is no guarantee of return") == []  # policy-wide
    # Elsewhere in the text, an exception suppresses nothing.
    assert _ids(compiled, "tax return aside, I guarantee a return") == ["g"]
    assert _ids(compiled, "no guarantee. Delete this") == ["d"]
    # A rule's exception belongs to that rule only.
    assert _ids(_compiled({"id": "d", "pattern": "delete this"},
                          {"id": "e", "pattern": "delete", "exceptions": ["delete this"]}),
                "delete this") == ["d"]


def test_direction_and_participant_scopes() -> None:
    compiled = _compiled(
        {"id": "out", "pattern": "personal", "scope": {"direction": "outbound"}},
        {"id": "vip", "pattern": "personal", "scope": {"participants": ["+15550001111"]}},
        {"id": "all", "pattern": "personal", "scope": {"direction": "any"}},
    )
    assert _ids(compiled, "personal") == ["out", "vip", "all"]  # scope unknown: not checked
    assert _ids(compiled, "personal", Context.of("inbound", ["15550001111"])) == ["vip", "all"]
    assert _ids(compiled, "personal", Context.of("outbound", ["1999"])) == ["out", "all"]


# --- validation and canonical form ---------------------------------------------------------

@pytest.mark.parametrize(("rule", "rule_id", "field"), [
    ({"id": "r1", "pattern": "a NEAR/99 b"}, "r1", "pattern"),
    ({"id": "r1", "pattern": "a NEAR/x b"}, "r1", "pattern"),
    ({"id": "r1", "pattern": "NEAR/2 b"}, "r1", "pattern"),
    ({"id": "r1", "pattern": "a NEAR/1 b NEAR/1 c"}, "r1", "pattern"),
    ({"id": "r1", "pattern": "?!"}, "r1", "pattern"),
    ({"id": "r1", "pattern": 3}, "r1", "pattern"),
    ({"id": "r1", "pattern": "a", "scope": {"direction": "sideways"}}, "r1", "scope.direction"),
    ({"id": "r1", "pattern": "a", "scope": {"participants": "123"}}, "r1", "scope.participants"),
    ({"id": "r1", "pattern": "a", "scope": {"who": []}}, "r1", "scope.who"),
    ({"id": "r1", "pattern": "a", "exceptions": ["x NEAR/1 y"]}, "r1", "exceptions[0]"),
    ({"id": "r1", "pattern": "a", "exceptions": "x"}, "r1", "exceptions"),
    ({"id": "r1", "pattern": "a", "severity": "high"}, "r1", "severity"),
    ({"id": "bad id", "pattern": "a"}, "rules[0]", "id"),
])
def test_validation_names_rule_and_field(rule: dict[str, Any], rule_id: str, field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_policy(rule))
    assert caught.value.rule == rule_id and caught.value.field == field
    assert str(caught.value).startswith(f"rule {rule_id!r}: {field}:")


def test_document_level_errors() -> None:
    for doc, field in [
        ({**_policy({"id": "a", "pattern": "a"}), "schema": "x@2"}, "schema"),
        ({**_policy({"id": "a", "pattern": "a"}), "name": ""}, "name"),
        (_policy(), "rules"),
        (_policy({"id": "a", "pattern": "a"}, exceptions=[""]), "exceptions[0]"),
    ]:
        with pytest.raises(PolicyError) as caught:
            parse_policy(doc)
        assert caught.value.field == field and caught.value.rule is None
    with pytest.raises(PolicyError, match="duplicate rule id") as caught:
        parse_policy(_policy({"id": "a", "pattern": "x"}, {"id": "a", "pattern": "y"}))
    assert caught.value.rule == "a"
    with pytest.raises(PolicyError, match="appears twice"):
        policy_from_json(b'{"schema": "wa-archive/lexicon@1", "name": "a", "name": "b"}')
    with pytest.raises(PolicyError, match="not valid JSON"):
        policy_from_json(b"{")
    with pytest.raises(PolicyError, match="NaN"):
        policy_from_json(b'{"x": NaN}')


def test_lowercase_near_is_a_word() -> None:
    assert parse_pattern("meet near/2 office").second is None


def test_canonical_hash_is_stable_under_key_order_and_spacing() -> None:
    doc = _policy({"id": "g", "pattern": "guarantee NEAR/3 return",
                   "scope": {"direction": "any", "participants": ["1"]}})
    reordered = json.loads(json.dumps(doc, sort_keys=True))
    reordered["rules"][0] = dict(reversed(list(reordered["rules"][0].items())))
    one = policy_from_json(json.dumps(doc, indent=4).encode())
    two = policy_from_json(json.dumps(reordered, separators=(",", ":")))
    assert one.canonical_bytes() == two.canonical_bytes()
    assert one.sha256 == two.sha256 and len(one.sha256) == 64
    changed = _policy({"id": "g", "pattern": "guarantee NEAR/4 return"})
    assert parse_policy(changed).sha256 != one.sha256


def test_example_policy_is_valid() -> None:
    policy = policy_from_json(EXAMPLE.read_bytes())
    assert [rule.id for rule in policy.rules] == [
        "guarantee-return", "off-the-record", "delete-this", "personal-channel"]


# --- records -----------------------------------------------------------------------------

def _meta_record(name: str) -> dict[str, Any]:
    return build_record(parse_webhook(fixture_bytes(name)).events[0], raw=RAW,
                        received_at=RECEIVED)


def _record(event: str, direction: str, content: dict[str, Any],
            media: tuple[MediaRef, ...] = (), type_: str = "text") -> dict[str, Any]:
    inbound = direction == "inbound"
    canonical = CanonicalEvent(
        provider="meta", event=event, direction=direction,  # type: ignore[arg-type]
        message_id="wamid.X", sender=CUSTOMER if inbound else BUSINESS,
        recipient=BUSINESS if inbound else CUSTOMER, business_id=BUSINESS,
        customer_id=CUSTOMER, timestamp=RECEIVED, type=type_, content=content, media=media)
    return build_record(canonical, raw=RAW, received_at=RECEIVED)


def test_record_fields_of_real_fixtures() -> None:
    compiled = _compiled({"id": "q3", "pattern": "Q3"}, {"id": "sell", "pattern": "sell"},
                         {"id": "order", "pattern": "order executed"},
                         {"id": "signed", "pattern": "signed form"})
    document = compiled.evaluate(_meta_record("document"))
    assert sorted(document) == ["content.caption", "content.filename"]  # not twice via media
    assert document["content.filename"][0].matched == ("Q3",)
    assert list(compiled.evaluate(_meta_record("inbound_edit"))) == ["content.edited.text"]
    assert list(compiled.evaluate(_meta_record("echo_edit"))) == ["content.edited.text"]
    assert list(compiled.evaluate(_meta_record("echo_text"))) == ["content.text"]
    assert list(compiled.evaluate(_meta_record("image"))) == ["content.caption"]
    for name in ("status_read", "reaction", "system_changed_number", "inbound_revoke"):
        assert compiled.evaluate(_meta_record(name)) == {}


def test_media_filename_and_edited_caption_and_statuses_say_nothing() -> None:
    compiled = _compiled({"id": "d", "pattern": "delete this"})
    ref = MediaRef("m1", "application/pdf", None, "delete_this.pdf", "document")
    record = _record("message", "inbound", {}, (ref,), "document")
    (hit,) = compiled.evaluate(record)["media[0].filename"]
    assert hit.matched == ("delete_this",)
    edit = _record("edit", "outbound", {"edited": {"type": "image", "caption": "Delete THIS"}},
                   type_="edit")
    assert list(compiled.evaluate(edit)) == ["content.edited.caption"]
    status = _record("status", "outbound", {"text": "delete this"}, type_="status")
    assert compiled.evaluate(status) == {}


def test_record_scope_uses_direction_and_conversation_ids() -> None:
    compiled = _compiled(
        {"id": "out", "pattern": "personal", "scope": {"direction": "outbound"}},
        {"id": "biz", "pattern": "personal", "scope": {"participants": [BUSINESS]}},
        {"id": "cust", "pattern": "personal", "scope": {"participants": ["+" + CUSTOMER]}},
        {"id": "other", "pattern": "personal", "scope": {"participants": ["999"]}})
    inbound = compiled.evaluate(_record("message", "inbound", {"text": "my personal phone"}))
    assert [hit.rule for hit in inbound["content.text"]] == ["biz", "cust"]
    outbound = compiled.evaluate(_record("message", "outbound", {"text": "personal"}))
    assert [hit.rule for hit in outbound["content.text"]] == ["out", "biz", "cust"]


# --- property ----------------------------------------------------------------------------

_SEPARATORS = st.text(alphabet=" \t\n.,;:!?-_()/\u00a0\u2014\u3000", min_size=1, max_size=4)


@given(before=_SEPARATORS, gaps=st.lists(_SEPARATORS, min_size=2, max_size=2),
       after=_SEPARATORS, upper=st.booleans())
def test_separators_never_remove_a_phrase_hit(before: str, gaps: list[str], after: str,
                                              upper: bool) -> None:
    words = ["off", "the", "record"]
    if upper:
        words = [word.upper() for word in words]
    text = before + words[0] + gaps[0] + words[1] + gaps[1] + words[2] + after
    compiled = _COMPILED_OTR
    (hit,) = compiled.match(text)
    assert normalize(hit.matched[0]) == "off the record"


_COMPILED_OTR = compile_policy(parse_policy(_policy({"id": "otr", "pattern": "off the record"})))


# --- CLI ---------------------------------------------------------------------------------

def test_cli_prints_hits(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lexicon", "test", str(EXAMPLE), "I GUARANTEE you a 10% return, off-the-record"])
    out = capsys.readouterr().out
    assert code == 0
    assert "guarantee-return: 'GUARANTEE' ... 'return' (characters 2-11, 22-28)" in out
    assert "off-the-record: 'off-the-record'" in out
    assert "(scope not checked: direction, participants)" in out


def test_cli_no_hits_and_direction_scope(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["lexicon", "test", str(EXAMPLE), "WhatsApp me on my personal"]
    assert main([*args, "--direction", "inbound", "--participant", "1"]) == 0
    assert capsys.readouterr().out == "no hits\n"
    assert main([*args, "--direction", "outbound"]) == 0
    assert "personal-channel:" in capsys.readouterr().out


def test_cli_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lexicon", "test", str(EXAMPLE), "delete this", "--json",
                 "--direction", "outbound"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["policy"]["name"] == "Example supervision lexicon"
    assert out["policy"]["sha256"] == policy_from_json(EXAMPLE.read_bytes()).sha256
    assert out["hits"] == [{"rule": "delete-this", "field": "text", "tokens": [0, 2],
                            "spans": [[0, 11]], "matched": ["delete this"]}]
    assert out["scope_not_checked"] == ["participants"]


def test_cli_invalid_or_missing_file_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_policy({"id": "g", "pattern": "a", "scope": {"direction": 1}})))
    assert main(["lexicon", "test", str(bad), "text"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"wa-archive lexicon: {bad}: rule 'g': scope.direction: must be")
    assert main(["lexicon", "test", str(tmp_path / "none.json"), "text"]) == 2
    assert "cannot read" in capsys.readouterr().err
