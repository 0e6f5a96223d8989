"""Registry: registration, close-match errors, argument checks."""

from __future__ import annotations

import pytest

from vidstruct.errors import ConfigError, RegistryError
from vidstruct.registry import Registry


def make_registry() -> Registry:
    reg: Registry = Registry("widget")

    @reg.register("slowfast_r50")
    def slowfast_r50(*, num_classes: int = 400) -> tuple[str, int]:
        return ("slowfast_r50", num_classes)

    @reg.register()
    def x3d_m(*, num_classes: int = 400) -> tuple[str, int]:
        return ("x3d_m", num_classes)

    return reg


def test_build_passes_kwargs() -> None:
    reg = make_registry()
    assert reg.build("x3d_m", num_classes=7) == ("x3d_m", 7)
    assert reg.names() == ["slowfast_r50", "x3d_m"]
    assert "x3d_m" in reg and "nope" not in reg and len(reg) == 2


def test_unknown_name_lists_close_matches() -> None:
    reg = make_registry()
    with pytest.raises(RegistryError) as exc:
        reg.get("slowfast_r5O")
    assert str(exc.value) == "unknown widget 'slowfast_r5O' (did you mean 'slowfast_r50'?)"


def test_unknown_name_without_close_match_lists_all() -> None:
    with pytest.raises(RegistryError, match=r"unknown widget 'zzz' \(known: slowfast_r50, x3d_m\)"):
        make_registry().get("zzz")


def test_unknown_kwarg_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"widget 'x3d_m' has no argument 'num_class' \(did you mean 'num_classes'"):
        make_registry().build("x3d_m", num_class=3)


def test_double_registration_of_another_function_fails() -> None:
    reg = make_registry()
    with pytest.raises(ValueError, match="registered twice"):

        @reg.register("x3d_m")
        def other() -> None:
            return None
