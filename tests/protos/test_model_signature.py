from __future__ import annotations

import pytest

from sightline.model_signature import (
    CONTEXT,
    format_public_key,
    key_id,
    parse_public_key,
    signed_message,
)

SHA = "a" * 64
MANIFEST_SHA = "b" * 64


def test_the_signed_message_names_every_field_once_per_line() -> None:
    message = signed_message("nanodet-g", "2", SHA, 123, MANIFEST_SHA)
    assert message == CONTEXT + f"nanodet-g\n2\n{SHA}\n123\n{MANIFEST_SHA}\n".encode()


def test_each_field_changes_the_signed_message() -> None:
    base = ("nanodet-g", "2", SHA, 123, MANIFEST_SHA)
    variants = [
        ("nanodet-h", "2", SHA, 123, MANIFEST_SHA),
        ("nanodet-g", "3", SHA, 123, MANIFEST_SHA),
        ("nanodet-g", "2", "c" * 64, 123, MANIFEST_SHA),
        ("nanodet-g", "2", SHA, 124, MANIFEST_SHA),
        ("nanodet-g", "2", SHA, 123, "d" * 64),
    ]
    messages = {signed_message(*fields) for fields in [base, *variants]}
    assert len(messages) == 6


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (("", "1", SHA, 1, MANIFEST_SHA), "name"),
        (("a\nb", "1", SHA, 1, MANIFEST_SHA), "name"),
        (("a", "1\n", SHA, 1, MANIFEST_SHA), "version"),
        (("a", "1", SHA.upper(), 1, MANIFEST_SHA), "sha256"),
        (("a", "1", SHA, -1, MANIFEST_SHA), "size"),
        (("a", "1", SHA, 1, "xyz"), "manifest sha256"),
    ],
)
def test_a_malformed_field_cannot_be_signed(
    fields: tuple[str, str, str, int, str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        signed_message(*fields)


def test_a_public_key_round_trips_through_its_text_form() -> None:
    raw = bytes(range(32))
    text = format_public_key(raw)
    assert text.startswith("ed25519:")
    assert parse_public_key(text) == raw
    assert len(key_id(raw)) == 16


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rsa:AAAA", "ed25519:"),
        ("ed25519:not base64!", "base64"),
        ("ed25519:AAAA", "32 bytes"),
    ],
)
def test_a_malformed_public_key_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_public_key(text)
