"""Configuration: documented defaults in ``bestandlib/bestand.yml``, overridden by a user file.

A user file only holds the keys it changes. Keys that the defaults do not know are an error naming
the key, so a typo (``thresold``) never silently falls back to a default.
"""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

from bestandlib.errors import ConfigError

DEFAULTS_PATH = Path(__file__).with_name("bestand.yml")

# Sections whose keys are free (names of tables, columns or business units chosen by the user).
# Values below these paths are merged without checking the key names.
_FREE_KEYS = {
    ("data", "dialect"),
    ("data", "columns"),
    ("actions", "measures"),
    ("actions", "capacity"),
}


# Maps that a user file replaces as a whole instead of merging key by key: a set of weights is one
# decision (they must sum to 1), so indicators left out of the user's set are meant to be left out.
_REPLACED_WHOLE = {"weights", "playbook"}


def _read_yaml(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {type(data).__name__}")
    return data


@functools.lru_cache(maxsize=1)
def _defaults() -> dict:
    # parsing the documented YAML takes tens of milliseconds; modules ask for it many times
    return _read_yaml(DEFAULTS_PATH)


def default_config() -> dict:
    """The documented defaults (a new dict each call, safe to change)."""
    return copy.deepcopy(_defaults())


def _is_free(path: tuple) -> bool:
    return any(path[: len(p)] == p for p in _FREE_KEYS) or any(
        # free maps declared in the defaults file itself: a key ending in "_by_unit" or "weights"
        part in {"weights", "labels", "playbook", "keywords"} for part in path
    )


def _merge(base: dict, override: dict, path: tuple, source) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        here = path + (key,)
        dotted = ".".join(map(str, here))
        if key not in base and not _is_free(path):
            known = ", ".join(sorted(map(str, base))) or "(none)"
            raise ConfigError(f"{source}: unknown config key '{dotted}'. Known keys here: {known}")
        if key in _REPLACED_WHOLE:
            out[key] = copy.deepcopy(value)  # the module validates it (names the bad key itself)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge(base[key], value, here, source)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path=None, overrides: dict | None = None) -> dict:
    """Return the configuration: defaults, then the YAML file at ``path``, then ``overrides``.

    ``path`` may also be a dict (an already loaded config), which is merged like a file.
    """
    config = default_config()
    if path is not None:
        user = path if isinstance(path, dict) else _read_yaml(Path(path))
        config = _merge(config, user, (), path if not isinstance(path, dict) else "config")
    if overrides:
        config = _merge(config, overrides, (), "overrides")
    return config


def ensure_config(config) -> dict:
    """Accept ``None`` (defaults), a path or a dict and return a full config dict."""
    if config is None:
        return load_config()
    if isinstance(config, dict) and "data" in config and "report" in config:
        return config
    return load_config(config)
