from __future__ import annotations

import pytest

from callcenter.crm.phones import PhoneNormalizer
from callcenter.errors import ConfigError

DE = PhoneNormalizer("DE")


@pytest.mark.parametrize(
    "raw",
    [
        "+4930123456",
        "+49 30 123456",
        "004930123456",
        "0049 (30) 123-456",
        "030 123456",
        "030/123456",
        "030123456",
        "4930123456",  # a trunk that drops the "+"
        "30123456",  # national without the trunk prefix
        "tel:+49-30-123456",
        "+49 (0)30 123456",
    ],
)
def test_every_form_of_a_berlin_number_has_the_same_key(raw: str) -> None:
    assert DE.lookup_keys(raw)[0] == "+4930123456"
    assert DE.e164(raw) == "+4930123456"
    assert DE.stub_number(raw) == "+4930123456"


def test_digits_starting_with_the_country_code_prefer_the_international_reading() -> None:
    assert DE.lookup_keys("4915112345678") == ("+4915112345678", "+494915112345678")
    assert DE.e164("4915112345678") == "+4915112345678"


def test_foreign_numbers_keep_their_country() -> None:
    assert DE.e164("+1 650 253 0000") == "+16502530000"
    assert DE.e164("001 650 253 0000") == "+16502530000"
    assert PhoneNormalizer("US").e164("650 253 0000") == "+16502530000"
    assert PhoneNormalizer("US").e164("011 49 30 123456") == "+4930123456"


@pytest.mark.parametrize("raw", ["2001", "100"])
def test_extensions_are_possible_numbers_but_never_stubs(raw: str) -> None:
    assert DE.lookup_keys(raw)
    assert DE.stub_number(raw) is None


@pytest.mark.parametrize("raw", ["", "   ", "anonymous", "<unknown>", "+", "x" * 100])
def test_things_that_are_no_number(raw: str) -> None:
    assert DE.lookup_keys(raw) == ()
    assert DE.e164(raw) is None
    assert DE.stub_number(raw) is None


def test_the_region_is_checked() -> None:
    assert PhoneNormalizer("de").region == "DE"
    with pytest.raises(ConfigError) as info:
        PhoneNormalizer("XX")
    assert info.value.key == "crm.default_region"
