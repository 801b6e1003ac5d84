"""config.toml and RANGETUI_* settings: long flag names as keys, flags win, mistakes are
one sentence with the file, the line and the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_saved, run_get
from tests.conftest import payload
from tests.daemon_helpers import rangetui
from tests.faultserver import FaultServer


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-config"
    (home / "rangetui").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in [n for n in os.environ if n.startswith("RANGETUI_") and n != "RANGETUI_STATE_DIR"]:
        monkeypatch.delenv(name)
    return home / "rangetui"


def write(config_home: Path, text: str) -> Path:
    path = config_home / "config.toml"
    path.write_text(text)
    return path


def shown(key: str) -> tuple[str, str]:
    result = rangetui("config")
    assert result.code == 0, result.describe()
    for line in result.stdout.splitlines():
        parts = line.split(None, 2)
        if parts and parts[0] == key:
            return parts[1], parts[2]
    raise AssertionError(f"{key} not in {result.stdout}")


def test_the_file_sets_defaults_and_flags_still_win(
    server: FaultServer, downloads: Path, tmp_path: Path, config_home: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(config_home, f'dir = "{downloads}"\nthreads = 2\nblock_size = "256K"\n')
    data = payload(MiB, seed=1)
    url = server.add("/conf.bin", data)
    assert run_get(url).code == 0
    assert_saved(downloads / "conf.bin", data)
    assert run_get(url, "-d", elsewhere).code == 0
    assert_saved(elsewhere / "conf.bin", data)
    value, where = shown("threads")
    assert value == "2" and where.endswith("config.toml line 2"), (value, where)
    assert shown("block-size")[0] == str(256 * 1024)


def test_the_environment_beats_the_file(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(config_home, "retries = 3\n")
    monkeypatch.setenv("RANGETUI_RETRIES", "9")
    assert shown("retries") == ("9", "RANGETUI_RETRIES")
    assert shown("timeout") == ("15.0", "built-in")


def test_header_values_are_never_shown(config_home: Path) -> None:
    write(config_home, 'header = ["Authorization: Bearer s3cret"]\n')
    result = rangetui("config")
    assert "s3cret" not in result.stdout and "Authorization" in result.stdout


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("retries = 1\nthreads = 0\n", "line 2: threads: must be a whole number from 1 to 64"),
        ("tread = 3\n", "line 1: tread is not a setting rangetui knows"),
        ('output = "x"\n', "line 1: output is not a setting rangetui knows"),
        ("threads = [1, 2]\n", "line 1: threads takes one value, not a list"),
        ("threads = \n", "config.toml: Invalid value"),
        ("[net]\nproxy = 1\n", "line 1: [net] tables are not used"),
    ],
)
def test_a_mistake_is_one_sentence_naming_the_file_line_and_key(
    server: FaultServer, downloads: Path, config_home: Path, text: str, said: str
) -> None:
    write(config_home, text)
    url = server.add("/never.bin", payload(1000))
    result = run_get(url, "-d", downloads)
    assert result.code == 2 and len(result.lines) == 1, result.describe()
    assert said in result.stderr and "config.toml" in result.stderr, result.describe()
    assert server.requests == [], "a bad config must stop the run before any request"


def test_a_missing_config_given_by_flag_is_an_error(tmp_path: Path, config_home: Path) -> None:
    result = run_get("http://127.0.0.1:9/x", "--config", tmp_path / "nope.toml")
    assert result.code == 2 and "no config file at" in result.stderr, result.describe()


def test_the_lowest_speed_limit_is_a_setting(config_home: Path) -> None:
    write(config_home, 'lowest-speed-limit = "100K"\n')
    value, source = shown("lowest-speed-limit")
    assert value in ("100K", "102400") and "config.toml" in source, (value, source)


def test_the_max_filesize_is_a_setting(config_home: Path) -> None:
    write(config_home, 'max-filesize = "2G"\n')
    value, source = shown("max-filesize")
    assert value in ("2G", str(2 * 1024**3)) and "config.toml" in source, (value, source)
