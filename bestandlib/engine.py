"""The aggregation engine: where order lines become the panel and the RFM summary.

The kit never holds the order lines in pandas when it does not have to. The aggregations of
:mod:`bestandlib.panel` run on whichever engine the configuration names (section ``engine`` of
``bestand.yml``); they are Ibis expressions, so the same code runs on Spark, with a hand-written SQL
twin for the embedded default:

* ``duckdb`` (default): embedded, in this process; reads the pandas frame, a Parquet file or a folder
  of Parquet files directly, works out of core and spills to disk above ``memory_limit``.
* ``pyspark``: an existing Spark cluster (``master: spark://host:7077``, ``yarn``, ...) or Spark's local
  mode. Needs the optional extra: ``pip install 'bestand[spark]'``.

Only results with one row per customer or customer-quarter come back to pandas; everything after that
stays in pandas and scikit-learn.
"""
from __future__ import annotations

import copy
import functools
from os import PathLike
from pathlib import Path

from bestandlib.errors import BestandError, ConfigError

#: Engines the configuration may name.
BACKENDS = ("duckdb", "pyspark")

_DEFAULTS = {
    "backend": "duckdb",
    "duckdb": {"memory_limit": None, "threads": None, "temp_directory": None},
    "pyspark": {"master": "local[2]", "app_name": "bestand", "shuffle_partitions": 8,
                "session_time_zone": "UTC"},
}


@functools.lru_cache(maxsize=1)
def _default_section() -> dict:
    # parsing bestand.yml takes 50-150 ms; the panel of a small data set takes a few hundred
    from bestandlib.config import default_config

    return default_config().get("engine") or {}


def engine_settings(config=None) -> dict:
    """The ``engine`` section of ``config`` (None = the documented defaults), with fallbacks."""
    if config is None:
        section = _default_section()
    else:
        from bestandlib.config import ensure_config

        # a path or a partial dict is merged onto the defaults (unknown keys are errors)
        section = ensure_config(config).get("engine") or {}
    section = copy.deepcopy(section)  # callers must not change the cached defaults
    out = {"backend": section.get("backend", _DEFAULTS["backend"])}
    for name in BACKENDS:
        out[name] = {**_DEFAULTS[name], **(section.get(name) or {})}
    if out["backend"] not in BACKENDS:
        raise ConfigError(f"engine.backend: unknown engine {out['backend']!r}; choose one of "
                          f"{', '.join(BACKENDS)}.")
    return out


def duckdb_connection(config=None):
    """A private in-memory DuckDB connection with the configured memory limit and threads.

    Parameters
    ----------
    config : dict, optional
        Full configuration; None means the defaults (no memory limit: DuckDB's default of 80 % of
        the machine's memory; all cores).

    Returns
    -------
    duckdb.DuckDBPyConnection
    """
    import duckdb

    s = engine_settings(config)["duckdb"]
    options = {}
    # DuckDB spills to its temp directory above the memory limit instead of failing
    if s.get("memory_limit"):
        options["memory_limit"] = str(s["memory_limit"])
    if s.get("threads"):
        options["threads"] = int(s["threads"])
    if s.get("temp_directory"):
        options["temp_directory"] = str(s["temp_directory"])
    try:
        return duckdb.connect(config=options)
    except duckdb.Error as exc:
        raise ConfigError(f"engine.duckdb: {exc}") from None


def connect(backend=None, config=None):
    """An Ibis connection to the configured engine.

    Parameters
    ----------
    backend : {"duckdb", "pyspark"} or Ibis backend, optional
        Default ``config["engine"]["backend"]``. An already connected Ibis backend is returned as it
        is (e.g. ``ibis.pyspark.connect(spark)`` with the session of a Databricks notebook).
    config : dict, optional
        Full configuration; None means the defaults.

    Returns
    -------
    ibis.BaseBackend
    """
    if backend is not None and not isinstance(backend, str):
        return backend
    settings = engine_settings(config)
    backend = backend or settings["backend"]
    if backend == "duckdb":
        import ibis

        return ibis.duckdb.from_connection(duckdb_connection(config))
    if backend == "pyspark":
        return ibis_pyspark(spark_session(config))
    raise ConfigError(f"Unknown engine {backend!r}; choose one of {', '.join(BACKENDS)}.")


def spark_session(config=None):
    """The Spark session of this process, started from ``config["engine"]["pyspark"]`` if needed.

    An already running session (a Databricks or EMR notebook, ``pyspark`` shell) is reused as it is;
    then only the session time zone is set, because dates must not shift between time zones.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BestandError("The pyspark engine needs the optional extra: pip install 'bestand[spark]'.") from None
    s = engine_settings(config)["pyspark"]
    active = SparkSession.getActiveSession()
    if active is None:
        builder = (SparkSession.builder.master(str(s["master"])).appName(str(s["app_name"]))
                   .config("spark.sql.shuffle.partitions", str(int(s["shuffle_partitions"])))
                   .config("spark.ui.showConsoleProgress", "false"))
        active = builder.getOrCreate()
    active.conf.set("spark.sql.session.timeZone", str(s["session_time_zone"]))
    return active


def ibis_pyspark(session):
    """Ibis on a Spark session (Ibis' pyspark extra pins an older pyspark, so it is imported here)."""
    import ibis

    return ibis.pyspark.connect(session)


def parquet_pattern(path) -> str:
    """The Parquet file, or all Parquet files below a folder (recursively, e.g. partitioned)."""
    p = Path(path)
    if p.is_dir():
        return str(p / "**" / "*.parquet")
    if p.is_file():
        return str(p)
    raise BestandError(f"No orders file or folder at {p}.")


def is_path(obj) -> bool:
    return isinstance(obj, (str, PathLike))
