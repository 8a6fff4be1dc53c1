"""Checks that `MZ_HUB_...` variables in deploy/ (systemd units, env files, compose) name
real hub settings: pydantic-settings ignores a variable for a section it does not know, so
a misspelt `MZ_HUB_STORAG__SQL` would pass silently and the hub would run on SQLite."""

from __future__ import annotations

from pydantic import BaseModel

from hub.config import HubSettings


def hub_field_path(name: str) -> tuple[str, ...]:
    """The settings path of `MZ_HUB_SECTION__KEY`; AssertionError if there is none."""
    assert name.startswith("MZ_HUB_"), name
    path = tuple(name.removeprefix("MZ_HUB_").lower().split("__"))
    model: type[BaseModel] = HubSettings
    for i, part in enumerate(path):
        assert part in model.model_fields, f"{name}: {'.'.join(path[: i + 1])} is no setting"
        annotation = model.model_fields[part].annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if i < len(path) - 1:
            assert is_section, f"{name}: {'.'.join(path[: i + 1])} has no keys"
            assert isinstance(annotation, type)
            model = annotation
        else:
            assert not is_section, f"{name}: {'.'.join(path)} is a section, not a key"
    return path


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= and compose's env_file read them."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=value: {line!r}"
        out[key.strip()] = value.strip()
    return out
