"""SMS segmentation: GSM-7 basic and extension tables, UCS-2 code units, concatenation limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_notifier.sms import GSM7_BASIC, GSM7_EXTENSION, LIMITS, encoding_of, split, units


def test_160_gsm7_characters_are_one_message_and_161_are_two() -> None:
    one = split("a" * 160)
    assert (one.encoding, one.count, one.units) == ("GSM-7", 1, 160)
    two = split("a" * 161)
    assert two.count == 2
    assert [len(s) for s in two.segments] == [153, 8]


@pytest.mark.parametrize("char", ["€", "{", "}", "[", "]", "\\", "^", "~", "|", "\f"])
def test_extension_characters_count_two_septets(char: str) -> None:
    assert split(char * 80) == split(char * 80)
    assert (split(char * 80).count, split(char * 80).units) == (1, 160)
    cut = split(char * 81)
    assert (cut.encoding, cut.count, cut.units) == ("GSM-7", 2, 162)
    assert [len(s) for s in cut.segments] == [76, 5]  # 76 x 2 = 152: the 77th would straddle


def test_an_escape_sequence_never_straddles_two_parts() -> None:
    cut = split("a" * 152 + "€" + "b" * 10)
    assert cut.segments[0] == "a" * 152
    assert cut.segments[1].startswith("€")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("é è ù ì ò à É Ç Ä Ö Ñ Ü ä ö ñ ü ß Æ æ Ø ø Å å ¿ ¡ § £ ¥ ¤ @ $ _ Δ Ω", "GSM-7"),
        ("Ville : MOIRANS\r\n", "GSM-7"),
        ("ê", "UCS-2"),
        ("ç", "UCS-2"),  # the basic table has Ç, not ç
        ("â", "UCS-2"),
        ("ô", "UCS-2"),
        ("l\u2019équipe", "UCS-2"),  # a typographic apostrophe
        ("`", "UCS-2"),
        ("\x1b", "UCS-2"),  # ESC is no character of a text
        ("😀", "UCS-2"),
    ],
)
def test_the_real_gsm7_table_decides_the_encoding(text: str, encoding: str) -> None:
    assert encoding_of(text) == encoding


def test_ucs2_is_70_units_then_67_per_part() -> None:
    assert split("ê" * 70).count == 1
    cut = split("ê" * 71)
    assert (cut.encoding, cut.count, [len(s) for s in cut.segments]) == ("UCS-2", 2, [67, 4])


def test_an_emoji_counts_two_units_and_is_never_cut_in_half() -> None:
    assert units("😀", "UCS-2") == 2 and units("ê", "UCS-2") == 1
    assert (split("😀" * 35).count, split("😀" * 35).units) == (1, 70)
    cut = split("😀" * 36)
    assert [len(s) for s in cut.segments] == [33, 3]  # 33 x 2 = 66: the 34th would straddle


def test_an_empty_text_is_one_empty_message() -> None:
    assert split("").segments == ("",)


ALPHABET = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)) | st.characters(codec="utf-8")


@given(st.text(alphabet=ALPHABET, max_size=700))
def test_segments_rejoin_into_the_text_and_fit_their_limit(text: str) -> None:
    cut = split(text)
    assert "".join(cut.segments) == text
    assert cut.encoding == encoding_of(text)
    single, part = LIMITS[cut.encoding]
    limit = single if cut.count == 1 else part
    for segment in cut.segments:
        assert sum(units(char, cut.encoding) for char in segment) <= limit
        assert segment or cut.count == 1
    assert cut.units == sum(units(char, cut.encoding) for char in text)
    if cut.count > 1:
        assert cut.units > single
