"""export/names.py: gesture names as people write them <-> the device's ASCII form."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.export import names

CREATEAI = ["Not a spell", "Jumping up&down", "Being still", "café", "say \"hi\", then 'bye'", "x_y", "Ω"]


@pytest.mark.parametrize("name", CREATEAI)
def test_device_form_is_safe_ascii_and_reversible(name):
    form = names.device_name(name)
    assert form.isascii() and form.isprintable() and not set(form) & set(" ,'\"\\")
    assert names.real_name(form) == name


@given(st.text(min_size=1, max_size=names.MAX_CHARS).filter(lambda s: s.strip() and s.isprintable()))
def test_any_printable_name_round_trips(name):
    assert names.real_name(names.device_name(name)) == name


def test_readable_forms():
    assert [names.device_name(n) for n in CREATEAI[:4]] == ["Not_a_spell", "Jumping_up%26down", "Being_still",
                                                           "caf%C3%A9"]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 41, "tab\there"])
def test_unusable_names_are_refused(bad):
    with pytest.raises(MbnnError, match="cannot be used"):
        names.check(["ok", bad])


def test_plain_text_decodes_to_itself():
    assert names.real_name("shake") == "shake" and names.real_name("100%") == "100%"
