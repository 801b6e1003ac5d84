"""Settings from outside the command line: config.toml and RANGETUI_* variables.

Keys are the long flag names, as aria2.conf and wgetrc take them (`threads = 4`,
`block-size = "1M"`, `dir = "~/Downloads"`); underscores work as dashes. Precedence:
flags, then the environment, then the file, then the built-in defaults. This module
only reads and reports where each value came from; the command line checks values
with the same rules as its flags, so a bad value reads the same wherever it was set.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

CONFIG_NAME = "config.toml"
ENV_PREFIX = "RANGETUI_"
NOT_SETTINGS = frozenset({"STATE_DIR"})
"""RANGETUI_STATE_DIR names the state dir; it is not a flag's default."""


class ConfigError(Exception):
    """One sentence: the file, the line and the key."""


@dataclass(frozen=True)
class Setting:
    key: str
    value: object
    source: str
    """Where it came from: "path/config.toml line 3", "RANGETUI_THREADS"."""


def default_path() -> Path:
    return Path(platformdirs.user_config_dir("rangetui", appauthor=False)) / CONFIG_NAME


def normal(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def from_file(path: Path, required: bool) -> list[Setting]:
    """The file's settings; a missing default file is no settings, a missing --config is
    an error, and so is anything that is not TOML of plain keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"no config file at {path}") from None
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    settings = []
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"{path} line {line_of(text, key)}: [{key}] tables are not used")
        settings.append(Setting(normal(key), value, f"{path} line {line_of(text, key)}"))
    return settings


def from_environment(environ: dict[str, str]) -> list[Setting]:
    found = []
    for name, value in sorted(environ.items()):
        rest = name.removeprefix(ENV_PREFIX)
        if name.startswith(ENV_PREFIX) and rest not in NOT_SETTINGS and rest:
            found.append(Setting(normal(rest), value, name))
    return found


def load(config: Path | None) -> list[Setting]:
    """The file's settings, then the environment's (later ones win)."""
    path = config if config is not None else default_path()
    return [*from_file(path, required=config is not None), *from_environment(dict(os.environ))]


def line_of(text: str, key: str) -> int:
    """The line that sets ``key`` (TOML names no line for a bad value, people need one)."""
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split("=", 1)[0].strip().strip('"').strip("'")
        if name == key or line.strip() == f"[{key}]":
            return number
    return 0
