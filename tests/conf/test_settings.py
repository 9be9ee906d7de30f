"""``bff_settings``: each setting read through its one declaration, typed, and read again when ``BFF`` changes."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.conf import DEFAULTS, InvalidSetting, bff_settings
from django_bff.conf.declared import GROUPS, LOGOUT_ALGORITHMS, SETTINGS, BFFSettings, settings_of
from django_bff.conf.kinds import Number


def test_every_setting_is_declared_once_with_its_words() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names)) == len(DEFAULTS)
    assert sum(len(settings_of(group)) for _, group in GROUPS) == len(SETTINGS)
    for setting in SETTINGS:
        assert setting.doc and setting.type_doc and setting.check_id.startswith("django_bff.E"), setting.name
        assert DEFAULTS[setting.name] == setting.default
        assert not [p for p in setting.check(setting.default) if p.is_error], f"{setting.name}'s default is refused"


def test_a_setting_reads_its_value_or_its_default(settings: Any) -> None:
    assert bff_settings.RETRY_AFTER == settings.BFF.get("RETRY_AFTER", 5)
    settings.BFF = {**settings.BFF, "RETRY_AFTER": 9}
    assert bff_settings.RETRY_AFTER == 9
    settings.BFF = {key: value for key, value in settings.BFF.items() if key != "RETRY_AFTER"}
    assert bff_settings.RETRY_AFTER == 5


def test_a_value_of_the_wrong_type_raises_with_its_check_id(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "REFRESH_BEFORE_EXPIRATION": "60"}
    with pytest.raises(InvalidSetting, match=r'BFF\["REFRESH_BEFORE_EXPIRATION"\].*django_bff\.E005'):
        bff_settings.REFRESH_BEFORE_EXPIRATION  # noqa: B018  (reading is what is tested)


def test_a_value_of_the_right_type_the_checks_refuse_is_read_as_it_is(settings: Any) -> None:
    """The runtime's own guards still apply to it (a logout token signed with none stays refused)."""
    settings.BFF = {**settings.BFF, "BACKCHANNEL_LOGOUT_ALGORITHMS": ["none", "RS256"], "AUTHORITY": ""}
    assert bff_settings.BACKCHANNEL_LOGOUT_ALGORITHMS == ["none", "RS256"]
    assert bff_settings.AUTHORITY == ""
    assert BFFSettings.BACKCHANNEL_LOGOUT_ALGORITHMS.check(["none", "RS256"])[0].id == "django_bff.E037"


def test_a_name_that_is_not_a_setting_is_an_attribute_error() -> None:
    name = "NO_SUCH_SETTING"
    with pytest.raises(AttributeError):
        getattr(bff_settings, name)


def test_a_value_or_the_default_for_checks_that_build_on_other_settings() -> None:
    assert BFFSettings.REFRESH_LOCK_TIMEOUT.value_or_default({"REFRESH_LOCK_TIMEOUT": -1}) == 30.0
    assert BFFSettings.REFRESH_LOCK_TIMEOUT.value_or_default({"REFRESH_LOCK_TIMEOUT": 7}) == 7


def test_the_logout_algorithms_are_listed_once_and_asymmetric() -> None:
    assert BFFSettings.BACKCHANNEL_LOGOUT_ALGORITHMS.default == list(LOGOUT_ALGORITHMS)
    assert not [a for a in LOGOUT_ALGORITHMS if a.lower() == "none" or a.startswith("HS")]


@pytest.mark.parametrize(
    ("value", "valid"), [(0, True), (0.5, True), (-1, False), (True, False), ("1", False), (None, False)]
)
def test_a_number_is_an_int_or_a_float_never_a_bool(value: Any, valid: bool) -> None:
    number = Number(1, "A number.")
    assert number.valid(value) is valid
