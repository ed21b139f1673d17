"""Computed results, cached per input, quarter, configuration and code version.

A report renders seven notebooks, and an analyst renders the same quarter again (another language, a
changed sentence, a second look). The expensive results - the backtest scores, the permutation and
bootstrap tables, the purchase-model fits - depend only on the validated data, the quarter, the
configuration and the code that computes them, so they are computed once and read back after that.

The key of a result is ``<data key>/<quarter>/<name>_<hash>``, where the hash covers the configuration
(all of it: a result reads many sections) and the source of the ``bestandlib`` package (any code change
invalidates every result; text catalogues and templates are not code, so a new translation does not).
Results are pickled (frames, fitted estimators) under ``data/interim/<data key>/results/``, written via a
temporary file and a rename, so parallel notebooks never read half a file. ``BESTAND_NO_RESULT_CACHE=1``
turns the cache off (every result recomputed).

Written here rather than with ``joblib.Memory``: joblib hashes the arguments (a panel of millions of
rows, every call) and tracks only the called function's own code, not the modules it calls.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from bestandlib import paths


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the package's Python source (every module, sorted by path)."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def enabled() -> bool:
    return os.environ.get("BESTAND_NO_RESULT_CACHE", "").lower() not in {"1", "true", "yes"}


def path_for(data_key: str, quarter: str, name: str, config: dict) -> Path:
    """Where the result ``name`` of this data, quarter, configuration and code version lives."""
    digest = hashlib.sha256(f"{config_hash(config)}:{code_version()}".encode()).hexdigest()[:16]
    return paths.INTERIM_DIR / data_key / "results" / str(quarter) / f"{name}_{digest}.pkl"


def cached(data_key: str | None, quarter: str, name: str, config: dict, compute: Callable[[], Any]) -> Any:
    """The result ``name``: read from the cache, or computed by ``compute()`` and stored.

    ``name`` must identify the computation completely given the data, quarter and configuration (e.g.
    ``"churn.backtest.onboarding"``); without a ``data_key`` (a session not backed by the data cache)
    the result is computed and not stored.
    """
    if data_key is None or not enabled():
        return compute()
    target = path_for(data_key, quarter, name, config)
    if target.exists():
        with open(target, "rb") as fh:
            return pickle.load(fh)
    value = compute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, target)
    return value
