"""The one rule both processes' settings follow: the environment beats the TOML file.

`mz edge run` and `mz hub run` read a TOML file and pass its contents as keyword
arguments; an operator overrides a single value with an `MZ_EDGE_...` / `MZ_HUB_...`
variable without editing the file. No .env files, no secrets directory. Both also word a
bad file the same way (`read_toml`, `first_error`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


class FileSettings(BaseSettings):
    """Base for settings built from a parsed TOML file (init kwargs) plus the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


class SettingsFileError(ValueError):
    """The settings file cannot be used; `str()` is one line for the operator."""


def read_toml(path: Path) -> dict[str, Any]:
    """A settings file's contents; SettingsFileError with one clear line if it cannot be
    read or is not TOML."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsFileError("file not found") from exc
    except OSError as exc:
        raise SettingsFileError(f"cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"not valid TOML: {exc}") from exc


def first_error(exc: ValidationError, top: str = "config") -> str:
    """The first validation error as one line: `section.key: what is wrong (+N more)`
    (`top` names an error of the whole file)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or top
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{more}"
