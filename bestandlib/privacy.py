"""Pseudonymous reports: customer names replaced by stable, keyed pseudonyms.

A report rendered with ``bestand report --pseudonymize`` can be shared outside the sales team: every
customer name in its pages and tables reads like ``Kunde 3F9A2C``. The pseudonym is a keyed hash
(HMAC-SHA256) of the customer_id, so

* it is **stable**: the same customer gets the same pseudonym in every quarter and every run, and a
  reader can follow "Kunde 3F9A2C" from one report to the next;
* it cannot be **reversed** without the key: a plain hash of the customer number could be undone by
  hashing every customer number of the ERP, the secret key prevents that.

The key comes from the environment variable ``BESTAND_PSEUDONYM_KEY`` (preferred: it never lands
in a file that might be shared) or from ``privacy.pseudonym_key`` in the config. Without a key the
run refuses to pseudonymise rather than fall back to something guessable.

The per-manager action lists (``reports/<quarter>/actions/``) are for the account managers
themselves and keep the real names: :meth:`bestandlib.session.Session.real_names` puts them back.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re

import pandas as pd

from bestandlib.config import ensure_config
from bestandlib.errors import ConfigError

__all__ = ["KEY_ENV", "pseudonym_key", "pseudonym", "pseudonyms", "pseudonymize_tables"]

#: Environment variable holding the secret key.
KEY_ENV = "BESTAND_PSEUDONYM_KEY"

_PREFIX = {"de": "Kunde", "en": "Customer"}
# Free-text survey answers may name customers (``would_refer_to``: "Den Kollegen von Physio Werner").
_FREE_TEXT = ("reason_chosen", "initial_hesitation", "would_miss", "would_refer_to")


def pseudonym_key(config=None) -> bytes:
    """The secret key: ``$BESTAND_PSEUDONYM_KEY``, else ``config["privacy"]["pseudonym_key"]``.

    Raises
    ------
    ConfigError
        When neither is set, or the key is shorter than 16 characters (a short key can be guessed
        by trying them all, which would undo the pseudonyms).
    """
    key = os.environ.get(KEY_ENV)
    if not key:
        cfg = ensure_config(config)
        key = (cfg.get("privacy") or {}).get("pseudonym_key")
    if not key:
        raise ConfigError(
            f"--pseudonymize needs a secret key: set the environment variable {KEY_ENV} "
            "(e.g. `export BESTAND_PSEUDONYM_KEY=$(python -c 'import secrets; print(secrets.token_hex(16))')`) "
            "or privacy.pseudonym_key in your config file. Keep it: the same key gives the same pseudonyms.")
    key = str(key)
    if len(key) < 16:
        raise ConfigError(f"The pseudonym key is too short ({len(key)} characters); use at least 16.")
    return key.encode("utf-8")


def _digest(customer_id: str, key: bytes) -> str:
    return hmac.new(key, str(customer_id).encode("utf-8"), hashlib.sha256).hexdigest().upper()


def pseudonym(customer_id: str, key: bytes, lang: str = "de", digits: int = 6) -> str:
    """The pseudonym of one customer, e.g. ``"Kunde 3F9A2C"`` (``digits`` hex digits of the HMAC)."""
    return f"{_PREFIX.get(lang, _PREFIX['en'])} {_digest(customer_id, key)[:digits]}"


def pseudonyms(customer_ids, key: bytes, lang: str = "de", digits: int = 6) -> pd.Series:
    """Pseudonyms for distinct customer ids, unique within the list.

    Six hex digits give 16.7 million values; among 20,000 customers about a dozen pairs would
    still share one (birthday bound), so only the customers of a colliding pair get two more
    digits (and so on). Everyone else keeps the short, stable form.

    Returns
    -------
    Series
        Indexed by customer_id, the pseudonym as value.
    """
    ids = pd.Index(pd.Series(customer_ids, dtype=str).dropna().unique())
    full = pd.Series([_digest(c, key) for c in ids], index=ids, dtype=object)
    length = pd.Series(digits, index=ids)
    while True:
        short = pd.Series([h[:n] for h, n in zip(full, length)], index=ids)
        clash = short.duplicated(keep=False)
        if not clash.any():
            break
        length[clash] += 2
    prefix = _PREFIX.get(lang, _PREFIX["en"])
    return (prefix + " " + short).rename("pseudonym")


def _replace_names_in_text(text: pd.Series, names: pd.Series) -> pd.Series:
    """Replace every occurrence of a real name (longest first) in free text by its pseudonym."""
    mapping = {str(n): p for n, p in names.items() if isinstance(n, str) and len(n.strip()) >= 4}
    if not mapping or text.dropna().empty:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in sorted(mapping, key=len, reverse=True)))
    return text.map(lambda v: pattern.sub(lambda m: mapping[m.group(0)], v) if isinstance(v, str) else v)


def pseudonymize_tables(tables, key: bytes, lang: str = "de"):
    """A copy of :class:`bestandlib.io.Tables` with customer names replaced by pseudonyms.

    ``customers["name"]`` becomes the pseudonym; real names quoted in the free-text survey answers
    are replaced as well, so a referral matched against the customer list still matches. Ids,
    numbers and all other columns are unchanged (the analyses give the same results).

    Returns
    -------
    tuple
        ``(tables, real_names)``: the pseudonymised tables and a Series customer_id -> real name.
    """
    import dataclasses

    customers = tables.customers.copy()
    real = pd.Series(customers["name"].to_numpy(), index=customers["customer_id"].to_numpy(),
                     name="name")
    fake = pseudonyms(customers["customer_id"], key, lang)
    customers["name"] = customers["customer_id"].map(fake).astype(str)
    changes = {"customers": customers}
    surveys = getattr(tables, "surveys", None)
    if surveys is not None:
        by_name = pd.Series(fake.reindex(real.index).to_numpy(), index=real.to_numpy())
        by_name = by_name[~by_name.index.duplicated()]
        surveys = surveys.copy()
        for col in _FREE_TEXT:
            if col in surveys:
                surveys[col] = _replace_names_in_text(surveys[col], by_name)
        changes["surveys"] = surveys
    return dataclasses.replace(tables, **changes), real
