"""Apply config.toml and RANGETUI_* settings to a parser as its defaults.

Each value goes through the flag's own type check, so `threads = 0` in the file reads
like `-t 0` on the command line, with the file, the line and the key in front.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rangetui.config import ConfigError, Setting, load

PER_RUN = frozenset({"urls", "input-file", "output", "mirror", "config", "help", "version"})
"""Flags that name one run's files: no default for them in a config file."""
KNOWN = frozenset(
    {"dir", "threads", "block-size", "buffer-size", "checksum", "checksum-file", "header"}
    | {"limit-rate", "retries", "timeout", "ca-bundle", "insecure", "max-jobs", "quiet"}
    | {"max-per-host", "proxy", "no-proxy", "load-cookies", "netrc-file", "user-agent"}
    | {"referer", "notify", "fixed", "lowest-speed-limit", "max-filesize"}
)
"""Every key some command takes: one command ignores another's (`ls` has no -t)."""


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="PATH", help="settings file (default: config.toml)"
    )


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Flags over the environment over the file over the built-in defaults."""
    known, _ = parser.parse_known_args(argv)
    try:
        settings = load(getattr(known, "config", None))
        apply_settings(parser, settings)
    except ConfigError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    return parser.parse_args(argv)


def apply_settings(parser: argparse.ArgumentParser, settings: list[Setting]) -> dict[str, Setting]:
    """Set each setting as its flag's default; returns the ones used, by dest."""
    actions = {a.option_strings[-1].lstrip("-"): a for a in parser._actions if a.option_strings}
    used: dict[str, Setting] = {}
    for setting in settings:
        action = actions.get(setting.key)
        if setting.key not in KNOWN or setting.key in PER_RUN:
            raise ConfigError(f"{setting.source}: {setting.key} is not a setting rangetui knows")
        if action is None:
            continue
        parser.set_defaults(**{action.dest: convert(action, setting)})
        used[action.dest] = setting
    return used


def convert(action: argparse.Action, setting: Setting) -> object:
    value = setting.value
    if isinstance(action, argparse._StoreTrueAction):
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{setting.source}: {setting.key} takes true or false")
        return value
    values = value if isinstance(value, list) else [value]
    if not isinstance(action, argparse._AppendAction) and isinstance(value, list):
        raise ConfigError(f"{setting.source}: {setting.key} takes one value, not a list")
    converted = [_one(action, setting, v) for v in values]
    return converted if isinstance(action, argparse._AppendAction) else converted[0]


def _one(action: argparse.Action, setting: Setting, value: object) -> object:
    if action.type is None or not callable(action.type):
        return str(value)
    try:
        return action.type(str(value))
    except (argparse.ArgumentTypeError, ValueError) as e:
        raise ConfigError(f"{setting.source}: {setting.key}: {e}") from None
