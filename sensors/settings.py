"""The one rule both processes' settings follow: the environment beats the TOML file.

`mz edge run` and `mz hub run` read a TOML file and pass its contents as keyword
arguments; an operator overrides a single value with an `MZ_EDGE_...` / `MZ_HUB_...`
variable without editing the file. No .env files, no secrets directory.
"""

from __future__ import annotations

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
