"""One wording for a bad settings file, whichever process reads it (sensors.settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_settings as load_edge
from edge.errors import ConfigError as EdgeConfigError
from hub.config import load_settings as load_hub
from hub.errors import ConfigError as HubConfigError
from simulators.demo import load_credentials


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "file not found"), (b"[broker\nurl=", "not valid TOML"), (b"\xff\xfe", "not valid")],
)
def test_edge_hub_and_demo_credentials_say_the_same_about_a_bad_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "settings.toml"
    if content is not None:
        path.write_bytes(content)
    for load, error in ((load_edge, EdgeConfigError), (load_hub, HubConfigError)):
        with pytest.raises(error) as info:
            load(path)
        assert str(info.value).startswith(f"{path}: {message}")
    with pytest.raises(ValueError, match=message):
        load_credentials(path)


def test_a_validation_error_names_the_key_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[console]\nport = 99999\nprot = 1\n")
    with pytest.raises(HubConfigError) as info:
        load_hub(path)
    assert str(info.value).startswith(f"{path}: console.port: ")
    assert str(info.value).endswith("(+1 more)")


def test_a_good_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "cred.toml"
    path.write_text('hub = "pw-hub"\n"dw-001" = "pw-1"\n')
    assert load_credentials(path) == {"hub": "pw-hub", "dw-001": "pw-1"}
