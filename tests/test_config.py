import pytest
import yaml

from bestandlib.config import default_config, load_config
from bestandlib.errors import ConfigError


def test_defaults_load_and_have_every_section():
    cfg = load_config()
    assert {"data", "history", "report"} <= set(cfg)
    assert cfg["history"]["abc_cutoffs"]["A"] < cfg["history"]["abc_cutoffs"]["B"]


def test_user_file_overrides_only_what_it_names(tmp_path):
    f = tmp_path / "my.yml"
    f.write_text(yaml.safe_dump({"history": {"abc_cutoffs": {"A": 0.7}}}))
    cfg = load_config(f)
    assert cfg["history"]["abc_cutoffs"] == {"A": 0.7, "B": default_config()["history"]["abc_cutoffs"]["B"]}
    assert cfg["report"] == default_config()["report"]


def test_typo_in_key_names_the_key(tmp_path):
    f = tmp_path / "typo.yml"
    f.write_text("history:\n  abc_cutofs: {A: 0.7}\n")
    with pytest.raises(ConfigError, match=r"history\.abc_cutofs"):
        load_config(f)


def test_unknown_section_names_the_key(tmp_path):
    f = tmp_path / "typo.yml"
    f.write_text("reprot: {}\n")
    with pytest.raises(ConfigError, match="reprot"):
        load_config(f)


def test_free_maps_accept_user_names(tmp_path):
    f = tmp_path / "map.yml"
    f.write_text("data:\n  columns:\n    customers: {Kundennummer: customer_id}\n")
    assert load_config(f)["data"]["columns"]["customers"] == {"Kundennummer": "customer_id"}


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("history: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_weight_sets_are_replaced_whole_not_merged(tmp_path):
    base = default_config()
    if "valuation" not in base:
        pytest.skip("no weights in the defaults")
    f = tmp_path / "w.yml"
    f.write_text("valuation:\n  score:\n    weights:\n      default: {revenue_12m: 1.0}\n")
    cfg = load_config(f)
    assert cfg["valuation"]["score"]["weights"] == {"default": {"revenue_12m": 1.0}}
