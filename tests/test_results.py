"""The result cache (bestandlib.results): computed once per data, quarter, configuration and code."""
import pandas as pd

from bestandlib import paths, results


def test_a_result_is_computed_once_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "INTERIM_DIR", tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1, 2]})

    first = results.cached("k1", "2025Q4", "demo.thing", {"a": 1}, compute)
    second = results.cached("k1", "2025Q4", "demo.thing", {"a": 1}, compute)
    assert len(calls) == 1 and second.equals(first)
    # another configuration, quarter or data is another result
    results.cached("k1", "2025Q4", "demo.thing", {"a": 2}, compute)
    results.cached("k1", "2025Q3", "demo.thing", {"a": 1}, compute)
    results.cached("k2", "2025Q4", "demo.thing", {"a": 1}, compute)
    assert len(calls) == 4
    assert not list(tmp_path.rglob(".*.pkl.*")), "no temporary file left behind"


def test_the_key_covers_the_code(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "INTERIM_DIR", tmp_path)
    before = results.path_for("k", "2025Q4", "x", {})
    results.code_version.cache_clear()
    monkeypatch.setattr(results, "code_version", lambda: "other")
    assert results.path_for("k", "2025Q4", "x", {}) != before


def test_without_data_key_or_when_turned_off_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "INTERIM_DIR", tmp_path)
    assert results.cached(None, "2025Q4", "x", {}, lambda: 1) == 1
    monkeypatch.setenv("BESTAND_NO_RESULT_CACHE", "1")
    assert results.cached("k", "2025Q4", "x", {}, lambda: 2) == 2
    assert not list(tmp_path.rglob("*.pkl"))
