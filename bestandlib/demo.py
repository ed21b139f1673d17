"""The deterministic demo world: a B2B medical-device maker and its existing customers.

``generate_demo`` writes a data folder in the shape of the data contract (``docs/architecture.md``):
order lines as Parquet, the other tables as a German ERP export (``;``, cp1252, ``1.234,56``,
``31.12.2024``), so every report, notebook and loader path can be exercised without real data.

The world is built quarter by quarter as a customer x quarter matrix of *expected* activity
(revenue, order frequency, contact rate, complaint rate, ...), and the individual rows (order lines,
contacts, complaints) are then drawn from it in one vectorised pass each. The phenomena the kit
exists to find are planted on purpose and recorded in a separate truth folder (``<out>_truth/``)
that the analysis never reads:

* **habituation**: long-standing customers whose relationship wears out - contact frequency and
  novelty (trainings, events) decay, they stop adopting product groups, complaints become more
  frequent and take longer to resolve, orders come less often, satisfaction drops and share of
  wallet erodes - and who then, after a lag of 2-4 quarters, churn fully or shrink to 20-50 %;
* **sudden churn** without any of these signals, and rare reactivations;
* **revenue vs potential**: positive but noisy, strong in one business unit, weak in another and
  absent in the third; potentials are assessed yearly with noise;
* **growth**: new customers ramp up over their first 4-8 quarters.

Same seed, same arguments => byte-identical files.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bestandlib.errors import BestandError

__all__ = ["generate_demo", "CSV_DIALECT", "BUSINESS_UNITS", "SEGMENTS", "REGIONS",
           "OPTIONAL_TABLES", "SHAPES"]

#: How the CSV tables of the demo world are written (a typical German ERP export).
CSV_DIALECT = {"sep": ";", "decimal": ",", "thousands": ".", "date_format": "%d.%m.%Y",
               "encoding": "cp1252"}

SEGMENTS = ["Klinik", "Sanitätshaus", "Orthopädische Praxis", "Physiotherapie"]
REGIONS = ["Nord", "Süd", "West", "Ost"]
BUSINESS_UNITS = ["Orthesen", "Bandagen", "Therapiesysteme"]
#: The tables besides ``customers.csv`` and ``orders.parquet`` (which are always written).
OPTIONAL_TABLES = ("contacts", "complaints", "potentials", "surveys")

# Further business units for worlds with more than three (``business_units=4..12``); unit j >= 3
# splits off from BUSINESS_UNITS[(j - 3) % 3], so its customers still buy that unit's product groups.
_EXTRA_BUSINESS_UNITS = ["Prothetik", "Kompressionstherapie", "Reha-Technik", "Einlagen",
                         "Sportmedizin", "Elektromedizin", "Schuhtechnik", "Wundversorgung",
                         "Diagnostik"]

# --- the company ------------------------------------------------------------------------------

# code, name, business unit, contribution margin rate at list price, median list price (EUR),
# number of articles
_PRODUCT_GROUPS = [
    ("KNO", "Knieorthesen", "Orthesen", 0.52, 180.0, 24),
    ("SGO", "Sprunggelenkorthesen", "Orthesen", 0.48, 95.0, 20),
    ("WSO", "Wirbelsäulenorthesen", "Orthesen", 0.55, 320.0, 18),
    ("HGO", "Handgelenkorthesen", "Orthesen", 0.45, 60.0, 16),
    ("KNB", "Kniebandagen", "Bandagen", 0.40, 45.0, 22),
    ("SGB", "Sprunggelenkbandagen", "Bandagen", 0.38, 35.0, 18),
    ("RUB", "Rückenbandagen", "Bandagen", 0.42, 70.0, 20),
    ("KST", "Kompressionsstrümpfe", "Bandagen", 0.33, 28.0, 24),
    ("CPM", "Bewegungsschienen", "Therapiesysteme", 0.30, 2400.0, 10),
    ("ELT", "Elektrotherapie", "Therapiesysteme", 0.36, 650.0, 14),
    ("KTH", "Kältetherapie", "Therapiesysteme", 0.44, 220.0, 14),
]

_ACCOUNT_MANAGERS = {  # five per region
    "Nord": ["Anna Schröder", "Jürgen Petersen", "Maren Jansen", "Ole Brandt", "Katrin Möller"],
    "Süd": ["Michael Huber", "Sabine Maier", "Thomas Gruber", "Stefanie Bauer", "Florian Wörner"],
    "West": ["Claudia Schäfer", "Markus Hövelmann", "Nicole Kremer", "Stefan Küpper", "Julia Theißen"],
    "Ost": ["Frank Köhler", "Susanne Lehmann", "René Schulze", "Doreen Krüger", "Matthias Förster"],
}

_CITIES = {
    "Nord": ["Hamburg", "Bremen", "Hannover", "Kiel", "Lübeck", "Oldenburg", "Osnabrück",
             "Braunschweig", "Lüneburg", "Flensburg", "Wolfsburg", "Göttingen"],
    "Süd": ["München", "Stuttgart", "Nürnberg", "Augsburg", "Regensburg", "Würzburg", "Freiburg",
            "Ulm", "Ingolstadt", "Fürth", "Konstanz", "Passau"],
    "West": ["Köln", "Düsseldorf", "Dortmund", "Essen", "Bonn", "Münster", "Aachen", "Bochum",
             "Mülheim", "Krefeld", "Wuppertal", "Gütersloh"],
    "Ost": ["Berlin", "Leipzig", "Dresden", "Rostock", "Magdeburg", "Erfurt", "Jena", "Chemnitz",
            "Potsdam", "Halle", "Cottbus", "Görlitz"],
}
_SURNAMES = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
             "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
             "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
             "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Köhler",
             "Weiß", "Jäger", "Groß", "Böhm", "Günther", "Kühn", "Vogel", "Fuchs", "Peters"]
_DISTRICTS = ["Mitte", "Nord", "Süd", "West", "Ost", "Altstadt", "Neustadt"]
_SAINTS = ["Elisabeth", "Josef", "Marien", "Vinzenz", "Franziskus", "Hedwig", "Antonius"]
_NAME_TEMPLATES = {
    "Klinik": ["Klinikum {c}", "Kreiskrankenhaus {c}", "St.-{st}-Hospital {c}",
               "Fachklinik für Orthopädie {c}-{d}", "Klinikum {c}-{d}", "Unfallklinik {c}"],
    "Sanitätshaus": ["Sanitätshaus {s} GmbH", "Sanitätshaus {s} & Söhne",
                     "Orthopädie- und Sanitätshaus {s} KG", "Sanitätshaus {s} {c}",
                     "Reha- und Sanitätshaus {s} GmbH"],
    "Orthopädische Praxis": ["Orthopädie-Praxis Dr. {s}", "Orthopädie-Praxis Dr. {s}, {c}",
                             "Orthopädische Gemeinschaftspraxis Dr. {s} & Dr. {s2}",
                             "MVZ Orthopädie {c}-{d}", "Praxis für Orthopädie Dr. {s}"],
    "Physiotherapie": ["Physiotherapie {s}", "Praxis für Physiotherapie {s} & Partner",
                       "Therapiezentrum {c}-{d}", "Physio {s} {c}", "Krankengymnastik {s}"],
}
# Referral targets that are not customers: spa towns never appear among the customers' cities.
_NEW_LEADS = ["Reha-Klinik Bad Tölz", "Klinik am Kurpark Bad Kissingen",
              "Orthopädisches Zentrum Bad Nauheim", "Rehazentrum Bad Oeynhausen",
              "Sanitätshaus Vogt in Bad Homburg", "Praxis Dr. Albrecht, Bad Aibling",
              "Physiotherapie am Kurpark Bad Salzuflen", "MediClin Bad Wildungen",
              "Sporttherapie Bad Reichenhall", "Gelenkzentrum Bad Füssing"]

# Revenue vs remaining potential per business unit:
#   log(remaining) = mu + offset + slope * (log(level) - mu) + noise_sd * N(0, 1)
# Strong in Orthesen, weak in Bandagen, none in Therapiesysteme (where a larger untapped remainder
# also keeps the share of wallet low, so the total potential says little about revenue there).
_POTENTIAL_RELATION = {"Orthesen": (1.0, 0.35, 0.0), "Bandagen": (0.4, 0.9, 0.5),
                       "Therapiesysteme": (0.0, 0.8, 1.0)}

_DEFAULTS = {
    "segment_shares": [0.12, 0.38, 0.25, 0.25],
    "region_shares": [0.22, 0.30, 0.28, 0.20],
    # P(business unit | segment), rows in SEGMENTS order
    "bu_by_segment": [[0.40, 0.30, 0.30], [0.35, 0.50, 0.15], [0.60, 0.25, 0.15],
                      [0.15, 0.30, 0.55]],
    "median_annual_revenue": [60000.0, 25000.0, 12000.0, 7000.0],   # by segment, at maturity
    "revenue_log_sd": 1.2,
    "initial_share": 0.55,            # customers that exist when the history starts
    "ramp_quarters": [4, 8],          # new customers ramp up over 4-8 quarters
    "yearly_trend": 0.025,
    "seasonality": [1.00, 1.03, 0.90, 1.07],
    "lines_per_customer": 500,        # average order lines per customer over the whole history
    "habituation_share": 0.15,        # of customers with >= 2 years tenure
    "habituation_lag": [2, 4],        # quarters from onset to churn
    "habituation_full_share": 0.6,    # full churn vs partial shrink
    "partial_level": [0.2, 0.5],
    "sudden_churn_hazard": 0.009,     # per quarter, customers without habituation
    "sudden_full_share": 0.75,
    "reactivation_share": 0.08,       # of full churners
    "credit_note_share": 0.015,
    "zero_value_share": 0.003,
    "survey_share": 0.30,
    "second_survey_share": 0.40,
}

# --- survey texts -----------------------------------------------------------------------------

_LOYAL_THEMES = ["Service", "Außendienst", "Qualität", "Schulung"]
_RISK_THEMES = ["Preis", "Lieferzeit", "Ansprechpartner gewechselt", "keine Neuheiten"]
_PHRASES = {
    "reason_chosen": {
        "Service": ["Der schnelle Service bei Rückfragen und Reklamationen.",
                    "Weil der Kundenservice immer erreichbar ist und unkompliziert hilft.",
                    "Guter Service, Ersatzteile kommen ohne lange Diskussion."],
        "Außendienst": ["Unser Außendienstmitarbeiter kennt unsere Abläufe genau.",
                        "Die persönliche Betreuung durch den Außendienst vor Ort.",
                        "Der Außendienst kommt regelmäßig vorbei und nimmt sich Zeit."],
        "Qualität": ["Die Qualität der Orthesen ist deutlich besser als beim Wettbewerb.",
                     "Zuverlässige Qualität, kaum Rücksendungen von Patienten.",
                     "Die Passform und Verarbeitung überzeugen unsere Patienten."],
        "Schulung": ["Die Produktschulungen für unser Team sind sehr hilfreich.",
                     "Wegen der guten Einweisung und Schulung der Mitarbeiter.",
                     "Die Fortbildungen und Workshops, die Sie anbieten."],
        "Preis": ["Damals war vor allem der Preis ausschlaggebend.",
                  "Das Angebot war günstiger als das der anderen Anbieter.",
                  "Die Konditionen beim Einstieg haben gepasst."],
        "Lieferzeit": ["Anfangs kurze Lieferzeiten, das war entscheidend.",
                       "Weil Sie schneller liefern konnten als der bisherige Lieferant."],
        "Ansprechpartner gewechselt": [
            "Der damalige Ansprechpartner hat uns überzeugt, der ist aber nicht mehr da.",
            "Wegen unseres früheren Betreuers, mit dem wir gut konnten."],
        "keine Neuheiten": ["Früher gab es interessante Neuheiten im Sortiment.",
                            "Damals war das Sortiment innovativer als bei anderen."],
    },
    "initial_hesitation": {
        "Service": ["Wir waren unsicher, ob der Service bei einem neuen Lieferanten funktioniert.",
                    "Ob Reklamationen schnell bearbeitet werden."],
        "Außendienst": ["Wir kannten den Außendienst noch nicht.",
                        "Ob wir einen festen Ansprechpartner im Außendienst bekommen."],
        "Qualität": ["Ob die Qualität mit unserem bisherigen Hersteller mithalten kann.",
                     "Zweifel an der Haltbarkeit der Bandagen."],
        "Schulung": ["Der Aufwand, das Team auf neue Produkte zu schulen.",
                     "Ob es genug Einweisung für die Therapiegeräte gibt."],
        "Preis": ["Der Preis war höher als beim bisherigen Lieferanten.",
                  "Die Preise erschienen uns zu hoch.",
                  "Zu teuer im Vergleich zum Wettbewerb."],
        "Lieferzeit": ["Lange Lieferzeiten bei Sondergrößen.",
                       "Ob die Lieferzeit für dringende Versorgungen reicht."],
        "Ansprechpartner gewechselt": ["Häufig wechselnde Ansprechpartner im Vertrieb.",
                                       "Ob der Ansprechpartner langfristig bleibt."],
        "keine Neuheiten": ["Das Sortiment wirkte wenig innovativ.",
                            "Es gab kaum neue Produkte im Vergleich zu anderen Herstellern."],
    },
    "would_miss": {
        "Service": ["Den schnellen und freundlichen Service.",
                    "Die unkomplizierte Abwicklung von Reklamationen.",
                    "Den Service-Hotline-Support, der wirklich hilft."],
        "Außendienst": ["Die regelmäßigen Besuche unseres Außendienstes.",
                        "Unseren Ansprechpartner im Außendienst, der sich wirklich kümmert."],
        "Qualität": ["Die gleichbleibend hohe Qualität der Produkte.",
                     "Die Qualität und Passform der Orthesen."],
        "Schulung": ["Die Schulungen für neue Mitarbeiter.",
                     "Die Workshops und Produktschulungen vor Ort."],
        "Preis": ["Ehrlich gesagt wenig, woanders ist es günstiger.",
                  "Nicht viel, die Preise sind zuletzt deutlich gestiegen."],
        "Lieferzeit": ["Kaum etwas, die Lieferzeiten sind inzwischen zu lang.",
                       "Wenig, seit die Lieferungen ständig verspätet kommen."],
        "Ansprechpartner gewechselt": [
            "Wenig, seit unser Ansprechpartner gewechselt hat, kümmert sich keiner mehr.",
            "Seit dem Wechsel des Ansprechpartners fehlt die Betreuung."],
        "keine Neuheiten": ["Nicht viel, es kommen keine Neuheiten mehr.",
                            "Wenig, das Sortiment hat sich seit Jahren nicht weiterentwickelt."],
    },
}
_REFERRAL_PHRASES = {
    "existing": ["{name}", "Den Kollegen von {name}", "Zum Beispiel {name}"],
    "new": ["{name}", "Der {name}, die sucht gerade einen Lieferanten", "Vielleicht {name}"],
    "general": ["Kollegen aus unserem Qualitätszirkel", "Anderen Praxen in der Region",
                "Befreundeten Physiotherapeuten", "Kollegen auf Fachkongressen"],
    "none": ["Derzeit niemandem", "Eher niemandem", "Im Moment nicht"],
}


# --- shapes -----------------------------------------------------------------------------------

_SMALL = 200   # customers of a shape world: small, so a report on each of them is fast

#: The worlds of the robustness matrix: keyword arguments for ``generate_demo`` that give data of a
#: different *shape* than the demo (history length, business units, empty master fields, missing
#: tables and columns, ...), so the kit is tested on data that does not look like the demo.
SHAPES: dict[str, dict] = {
    # history length: one year (no quarter has a year-ago comparison), two, four and ten years
    "years_1": {"customers": _SMALL, "start": "2025-01-01", "end": "2025-12-31"},
    "years_2": {"customers": _SMALL, "start": "2024-01-01", "end": "2025-12-31"},
    "years_4": {"customers": _SMALL, "start": "2022-01-01", "end": "2025-12-31"},
    "years_10": {"customers": _SMALL, "start": "2016-01-01", "end": "2025-12-31"},
    # business units: a single one (nothing to compare), the demo's three, twelve small ones
    "bu_1": {"customers": _SMALL, "business_units": 1},
    "bu_3": {"customers": _SMALL, "business_units": 3},
    "bu_12": {"customers": _SMALL, "business_units": 12},
    # an ERP master with only number and name: segment, region, unit and account manager empty
    "blank_master": {"customers": _SMALL, "blank_master": True},
    # potential assessments for nobody (no file), for 30 % of the customers, for all of them
    "potentials_none": {"customers": _SMALL, "potential_share": 0.0},
    "potentials_30": {"customers": _SMALL, "potential_share": 0.3},
    "potentials_all": {"customers": _SMALL, "potential_share": 1.0},
    # only the two mandatory tables: customers.csv and orders.parquet
    "two_tables": {"customers": _SMALL, "tables": ()},
    # a tiny customer base over four years
    "customers_25": {"customers": 25, "start": "2022-01-01", "end": "2025-12-31"},
    # nobody churns: every customer keeps buying to the end
    "no_churn": {"customers": _SMALL, "churn": False},
    # one extra customer whose only order lines are credit notes (negative revenue and margin)
    "credit_note": {"customers": _SMALL, "credit_note_customer": True},
    # the data ends in the middle of a quarter (an extract taken on 15 November)
    "mid_quarter": {"customers": _SMALL, "end": "2025-11-15"},
    # order lines without contribution margin and without product id and product group
    "no_margin": {"customers": _SMALL, "margin": False, "products": False},
}


# --- public API -------------------------------------------------------------------------------

def generate_demo(out_dir, customers: int = 2000, seed: int = 7, start="2020-01-01",
                  end="2025-12-31", truth_dir=None, progress: bool = False, *,
                  business_units: int = 3, blank_master: bool = False,
                  potential_share: float = 1.0, tables: tuple[str, ...] | None = None,
                  churn: bool = True, credit_note_customer: bool = False, margin: bool = True,
                  products: bool = True) -> dict:
    """Write the demo world into ``out_dir`` and its generating truth into ``truth_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Data folder to write (created if missing): ``orders.parquet``, ``customers.csv``,
        ``contacts.csv``, ``complaints.csv``, ``potentials.csv``, ``surveys.csv``.
    customers : int
        Number of customers; everything else scales with it (about 500 order lines each).
    seed : int
        Seed of the random numbers; the same seed and arguments give byte-identical files.
    start, end : str or date
        First and last day of the history. ``end`` may lie inside a quarter: the world is then
        generated through the end of that quarter and every dated row after ``end`` is dropped
        (complaints resolved after ``end`` are open).
    truth_dir : str or Path, optional
        Where ``truth.csv``, ``surveys_truth.csv`` and ``world.json`` go. Defaults to a sibling
        folder ``<out_dir>_truth`` so the analysis, which reads ``out_dir``, never sees it.
    progress : bool
        Print a line per generation step.

    The keyword-only options change the *shape* of the world (see ``SHAPES``); their defaults give
    the demo world unchanged.

    business_units : int
        Number of business units, 1..12. With 3 the demo's units; with fewer, the first of them
        (the others' customers folded in); with more, further units split off the three.
    blank_master : bool
        ``customers.csv`` has only customer_id and name filled: segment, region, business_unit and
        account_manager are empty cells, and so is the account_manager of ``contacts.csv``.
    potential_share : float
        Share of the customers (a seeded choice) that have potential assessments; 0 writes no
        ``potentials.csv`` at all.
    tables : tuple of str, optional
        Which of ``OPTIONAL_TABLES`` to write (default: all). ``customers.csv`` and
        ``orders.parquet`` are always written; the other files are removed from ``out_dir``.
    churn : bool
        False plants no churn (neither habituation nor sudden churn): everyone keeps buying.
    credit_note_customer : bool
        Add one customer whose only order lines are credit notes (negative quantity, revenue and
        contribution margin).
    margin, products : bool
        False writes ``orders.parquet`` without ``contribution_margin``, respectively without
        ``product_id`` and ``product_group``.

    Returns
    -------
    dict
        ``out_dir``, ``truth_dir``, ``rows`` (rows per written table) and ``seconds``.
    """
    t0 = time.perf_counter()
    customers = int(customers)
    if customers < 10:
        raise BestandError("The demo world needs at least 10 customers.")
    business_units = int(business_units)
    if not 1 <= business_units <= len(BUSINESS_UNITS) + len(_EXTRA_BUSINESS_UNITS):
        raise BestandError(f"business_units must be 1..{len(BUSINESS_UNITS) + len(_EXTRA_BUSINESS_UNITS)}, "
                           f"not {business_units}.")
    potential_share = float(potential_share)
    if not 0.0 <= potential_share <= 1.0:
        raise BestandError(f"potential_share must lie between 0 and 1, not {potential_share}.")
    if tables is None:
        tables = OPTIONAL_TABLES
    elif isinstance(tables, str):
        tables = (tables,)
    unknown = sorted(set(tables) - set(OPTIONAL_TABLES))
    if unknown:
        raise BestandError(f"Unknown demo tables {unknown}; choose from {list(OPTIONAL_TABLES)}.")
    write = [t for t in OPTIONAL_TABLES if t in tables and not (t == "potentials" and potential_share == 0)]
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else out_dir.parent / (out_dir.name + "_truth")
    if truth_dir.resolve() == out_dir.resolve() or out_dir.resolve() in truth_dir.resolve().parents:
        raise BestandError("truth_dir must lie outside the data folder, or the analysis would read it.")

    def say(msg):
        if progress:
            print(f"demo [{time.perf_counter() - t0:5.1f} s] {msg}", flush=True)

    # An end inside a quarter: generate the whole quarter, then cut everything after ``end``.
    first, last = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    quarter_end = last.to_period("Q-DEC").end_time.normalize()
    cut = last if first < last < quarter_end else None
    cal = _Calendar(start, quarter_end if cut is not None else end)
    rng = _Streams(seed)
    p = dict(_DEFAULTS)
    say(f"{customers} customers, {cal.n} quarters {cal.labels[0]}..{cal.labels[-1]}")

    catalogue = _catalogue(rng("catalogue"))
    cust = _customers(rng("customers"), customers, cal, p)
    _plant_churn(rng("churn"), cust, cal, p, churn=churn)
    m = _matrices(rng("matrices"), cust, cal, p)
    say("customers, trajectories and planted phenomena ready")

    orders = _order_lines(rng("orders"), cust, m, cal, catalogue, p)
    if credit_note_customer:
        orders, extra = _credit_note_customer(rng("credit_note"), orders, cust, cal, catalogue,
                                              cut if cut is not None else cal.end)
    say(f"{len(orders['net_revenue']):,} order lines")
    contacts = _contacts(rng("contacts"), cust, m, cal)
    complaints = _complaints(rng("complaints"), cust, m, cal)
    potentials = _potentials(rng("potentials"), cust, m, cal)
    surveys, survey_truth = _surveys(rng("surveys"), cust, m, cal, p)
    say("contacts, complaints, potentials and surveys ready")

    # --- the shape options (none of them touches the demo world at their defaults) ---
    if cut is not None:
        orders, contacts, complaints, potentials, surveys, survey_truth = _cut_after(
            cut, orders, contacts, complaints, potentials, surveys, survey_truth)
    if potential_share < 1.0:
        n_assessed = max(1, int(round(potential_share * customers)))
        assessed = rng("potential_share").choice(customers, n_assessed, replace=False)
        keep = potentials["customer_id"].isin(cust["customer_id"].to_numpy()[assessed])
        potentials = potentials[keep].reset_index(drop=True)
    unit_names = BUSINESS_UNITS
    if business_units != len(BUSINESS_UNITS):
        unit_names, unit = _regroup_business_units(rng("business_units"), cust["bu"].to_numpy(),
                                                   business_units)
        cust["business_unit"] = np.array(unit_names)[unit]

    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    _write_orders(orders, out_dir / "orders.parquet", margin=margin, products=products)
    customers_table = cust[["customer_id", "name", "segment", "region", "business_unit",
                            "account_manager"]]
    if credit_note_customer:
        extra["business_unit"] = unit_names[1 % len(unit_names)]     # Bandagen if it exists
        customers_table = pd.concat([customers_table, pd.DataFrame([extra])[customers_table.columns]],
                                    ignore_index=True)
    if blank_master:
        customers_table = customers_table.assign(segment=None, region=None, business_unit=None,
                                                 account_manager=None)
        contacts = contacts.assign(account_manager=None)
    rows = {"orders": len(orders["net_revenue"])}
    optional = {"contacts": contacts, "complaints": complaints, "potentials": potentials,
                "surveys": surveys}
    for name, df in [("customers", customers_table)] + [(t, optional[t]) for t in write]:
        _write_german_csv(df, out_dir / f"{name}.csv")
        rows[name] = len(df)
    for name in OPTIONAL_TABLES:            # a reused folder: no stale table of an earlier world
        if name not in write:
            (out_dir / f"{name}.csv").unlink(missing_ok=True)
    truth = _truth(cust, cal)
    if credit_note_customer:
        truth = pd.concat([truth, _credit_note_truth(extra, truth.columns)], ignore_index=True)
    truth.to_csv(truth_dir / "truth.csv", index=False, encoding="utf-8", lineterminator="\n")
    if "surveys" in write:
        survey_truth.to_csv(truth_dir / "surveys_truth.csv", index=False, encoding="utf-8",
                            lineterminator="\n")
    else:
        (truth_dir / "surveys_truth.csv").unlink(missing_ok=True)
    world = _world_json(customers, seed, cal, p, catalogue, truth, rows)
    shape = {"business_units": business_units, "blank_master": blank_master,
             "potential_share": potential_share, "tables": list(write), "churn": churn,
             "credit_note_customer": credit_note_customer, "margin": margin, "products": products}
    defaults = {"business_units": 3, "blank_master": False, "potential_share": 1.0,
                "tables": list(OPTIONAL_TABLES), "churn": True, "credit_note_customer": False,
                "margin": True, "products": True}
    if shape != defaults or cut is not None:
        world["end"] = last.strftime("%Y-%m-%d")
        world["shape"] = {**shape, "business_unit_names": list(unit_names),
                          "generated_through": cal.end.strftime("%Y-%m-%d")}
        if credit_note_customer:
            world["shape"]["credit_note_customer_id"] = extra["customer_id"]
    (truth_dir / "world.json").write_text(
        json.dumps(world, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    seconds = round(time.perf_counter() - t0, 2)
    say(f"written to {out_dir} (truth in {truth_dir})")
    return {"out_dir": str(out_dir), "truth_dir": str(truth_dir), "rows": rows, "seconds": seconds}


# --- building blocks --------------------------------------------------------------------------

class _Streams:
    """One independent random stream per generation step, so changing one step leaves the
    others' numbers untouched (``SeedSequence.spawn`` keyed by a fixed list of names)."""

    # New names go at the end: the i-th child of a SeedSequence does not depend on how many are
    # spawned, so the demo world's streams stay the same.
    _NAMES = ["catalogue", "customers", "churn", "matrices", "orders", "contacts", "complaints",
              "potentials", "surveys", "credit_note", "potential_share", "business_units"]

    def __init__(self, seed):
        children = np.random.SeedSequence(int(seed)).spawn(len(self._NAMES))
        self._rngs = {n: np.random.default_rng(c) for n, c in zip(self._NAMES, children)}

    def __call__(self, name) -> np.random.Generator:
        return self._rngs[name]


class _Calendar:
    """The quarters of the history as day numbers (numpy datetime64[D])."""

    def __init__(self, start, end):
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        if end <= start:
            raise BestandError(f"The demo history must end after it starts ({start:%Y-%m-%d}, {end:%Y-%m-%d}).")
        periods = pd.period_range(start, end, freq="Q-DEC")
        self.n = len(periods)
        self.labels = [str(q) for q in periods]
        self.first_day = np.array([max(q.start_time, start) for q in periods], dtype="datetime64[D]")
        self.last_day = np.array([min(q.end_time.normalize(), end) for q in periods], dtype="datetime64[D]")
        self.length = (self.last_day - self.first_day).astype(int) + 1
        self.season = np.array([q.quarter for q in periods]) - 1
        self.year = np.array([q.year for q in periods])
        self.start, self.end = start, end

    def random_days(self, rng, q):
        """A random business day inside each quarter ``q`` (weekends move to the nearest weekday
        inside the quarter, because ERPs book on working days)."""
        lo, hi = self.first_day[q], self.last_day[q]
        d = lo + (rng.random(len(q)) * self.length[q]).astype("timedelta64[D]")
        return _business_day(d, lo, hi)


def _business_day(d, lo, hi):
    weekday = (d.astype("int64") + 3) % 7   # 1970-01-01 was a Thursday; Monday = 0
    back = np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0)).astype("timedelta64[D]")
    fwd = np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0)).astype("timedelta64[D]")
    out = d - back
    out = np.where(out < lo, d + fwd, out)
    return np.minimum(np.maximum(out, lo), hi)


def _catalogue(rng):
    groups = pd.DataFrame(_PRODUCT_GROUPS, columns=["code", "product_group", "business_unit",
                                                    "margin_rate", "median_price", "articles"])
    rows = []
    for g in groups.itertuples(index=True):          # 11 groups: a cheap loop
        price = g.median_price * np.exp(rng.normal(0, 0.35, g.articles))
        price = np.maximum(np.round(price) - 0.10, 4.90)   # list prices end in ,90
        cost_rate = (1 - g.margin_rate) * np.exp(rng.normal(0, 0.05, g.articles))
        popularity = rng.gamma(0.8, 1.0, g.articles)
        rows.append(pd.DataFrame({
            "product_id": [f"{g.code}-{i + 1:03d}" for i in range(g.articles)],
            "group": g.Index, "list_price": price, "cost_rate": cost_rate,
            "popularity": popularity / popularity.sum()}))
    products = pd.concat(rows, ignore_index=True)
    return {"groups": groups, "products": products}


def _customers(rng, n, cal, p):
    seg = rng.choice(4, n, p=p["segment_shares"])
    region = rng.choice(4, n, p=p["region_shares"])
    bu_p = np.asarray(p["bu_by_segment"])[seg]
    bu = (rng.random(n)[:, None] > np.cumsum(bu_p, axis=1)).sum(axis=1).clip(0, 2)
    am_idx = rng.integers(0, 5, n)
    am_names = np.array([a for r in REGIONS for a in _ACCOUNT_MANAGERS[r]])
    level = np.asarray(p["median_annual_revenue"])[seg] * np.exp(rng.normal(0, p["revenue_log_sd"], n))

    initial = rng.random(n) < p["initial_share"]
    join_q = np.where(initial, 0, rng.integers(1, cal.n, n))
    # Existing customers joined at some point before the history starts (for the tenure rule).
    since_years_before = rng.uniform(0.25, 20, n)
    since = np.where(initial, cal.first_day[0] - (since_years_before * 365.25).astype("timedelta64[D]"),
                     cal.random_days(rng, join_q))
    ramp = np.where(initial, 0, rng.integers(p["ramp_quarters"][0], p["ramp_quarters"][1] + 1, n))

    df = pd.DataFrame({
        "customer_id": [f"K{10001 + i}" for i in range(n)],
        "name": _customer_names(rng, seg, region),
        "segment": np.array(SEGMENTS)[seg], "region": np.array(REGIONS)[region],
        "business_unit": np.array(BUSINESS_UNITS)[bu],
        "account_manager": am_names[region * 5 + am_idx],
        "seg": seg, "region_idx": region, "bu": bu, "am_idx": region * 5 + am_idx,
        "level": level, "initial": initial, "join_q": join_q, "since": since, "ramp": ramp,
    })
    # True potential = revenue level + remaining (untapped) potential, whose relation to revenue
    # depends on the business unit (strong / weak / none).
    z = np.log(level)
    slope = np.array([_POTENTIAL_RELATION[b][0] for b in BUSINESS_UNITS])[bu]
    noise = np.array([_POTENTIAL_RELATION[b][1] for b in BUSINESS_UNITS])[bu]
    mean_z = np.log(np.median(p["median_annual_revenue"])) + 0.5
    offset = np.array([_POTENTIAL_RELATION[b][2] for b in BUSINESS_UNITS])[bu]
    log_rem = mean_z + offset + slope * (z - mean_z) + noise * rng.standard_normal(n)
    df["potential_true"] = level + np.exp(log_rem)
    df["price_discount"] = np.clip(0.06 + 0.03 * np.log(level / 20000) + rng.normal(0, 0.03, n), 0, 0.30)
    df["satisfaction_base"] = rng.normal(7.8, 1.1, n)
    df["competition_base"] = rng.normal(3.0, 0.9, n)
    return df


def _customer_names(rng, seg, region):
    n = len(seg)
    s1, s2 = rng.integers(0, len(_SURNAMES), n), rng.integers(0, len(_SURNAMES), n)
    city = rng.integers(0, 12, n)
    d, st, tpl = rng.integers(0, len(_DISTRICTS), n), rng.integers(0, len(_SAINTS), n), rng.random(n)
    cities = [_CITIES[REGIONS[r]][c] for r, c in zip(region, city)]
    names = []
    for i in range(n):   # string templating per customer: cheap at a few thousand customers
        templates = _NAME_TEMPLATES[SEGMENTS[seg[i]]]
        t = templates[int(tpl[i] * len(templates))]
        other = _SURNAMES[s2[i]] if s2[i] != s1[i] else _SURNAMES[(s2[i] + 1) % len(_SURNAMES)]
        names.append(t.format(s=_SURNAMES[s1[i]], s2=other, c=cities[i], d=_DISTRICTS[d[i]],
                              st=_SAINTS[st[i]]))
    names = pd.Series(names)
    dup = names.duplicated()
    names[dup] = names[dup] + " (" + pd.Series(cities)[dup] + ")"
    k = names.groupby(names).cumcount()
    names[k > 0] = names[k > 0] + " " + (k[k > 0] + 1).astype(str)
    return names.to_numpy()


_NEVER = 10 ** 6


def _plant_churn(rng, cust, cal, p, churn=True):
    """Decide who habituates (when, with which lag), who churns suddenly, who comes back.

    ``churn=False`` plants neither habituation nor sudden churn (the draws stay the same)."""
    n, Q = len(cust), cal.n
    first_day = cal.first_day
    # Quarter index in which the customer reaches 2 years of tenure (may be negative for old ones).
    since_q = np.floor((cust["since"].to_numpy() - first_day[0]).astype(int) / 91.31).astype(int)
    lo = np.maximum(np.maximum(since_q + 8, cust["join_q"].to_numpy() + 8), 4)
    eligible = lo <= Q - 1
    habituating = eligible & (rng.random(n) < p["habituation_share"]) & churn
    h = np.where(habituating, lo + (rng.random(n) * np.maximum(Q - lo, 1)).astype(int), _NEVER)
    lag = np.where(habituating, rng.integers(p["habituation_lag"][0], p["habituation_lag"][1] + 1, n), 0)
    churn_q = np.where(habituating, h + lag, _NEVER)
    full = np.where(habituating, rng.random(n) < p["habituation_full_share"], False)

    # Sudden churn: a constant hazard after the ramp-up, with no warning signs.
    wait = rng.geometric(p["sudden_churn_hazard"], n)
    sudden_q = cust["join_q"].to_numpy() + cust["ramp"].to_numpy() + 1 + wait
    sudden = ~habituating & (sudden_q <= Q - 1) & churn
    churn_q = np.where(sudden, sudden_q, churn_q)
    full = np.where(sudden, rng.random(n) < p["sudden_full_share"], full)

    churned = churn_q <= Q - 1
    full &= churned
    partial = churned & ~full
    level = np.where(partial, rng.uniform(*p["partial_level"], n), np.where(full, 0.0, 1.0))
    react_gap = rng.integers(3, 9, n)
    react = full & (rng.random(n) < p["reactivation_share"]) & (churn_q + react_gap <= Q - 1)
    react_q = np.where(react, churn_q + react_gap, _NEVER)

    # An account-manager change often sets habituation off ("Ansprechpartner gewechselt").
    am_change = np.where(habituating & (rng.random(n) < 0.35), np.maximum(h - 1, 1), _NEVER)
    other = ~habituating & (rng.random(n) < 0.06)
    am_change = np.where(other, np.maximum(cust["join_q"].to_numpy() + 1 + rng.integers(0, Q, n), 1), am_change)
    am_change = np.where(am_change <= Q - 1, am_change, _NEVER)
    prev_am = (cust["am_idx"].to_numpy() // 5) * 5 + (cust["am_idx"].to_numpy() % 5 + rng.integers(1, 5, n)) % 5

    cust["archetype"] = np.where(habituating, "habituating", np.where(sudden, "sudden_churn", "stable"))
    cust["h"], cust["lag"], cust["churn_q"] = h, lag, np.where(churned, churn_q, _NEVER)
    cust["planned_churn_q"] = churn_q
    cust["churn_kind"] = np.where(full, "full", np.where(partial, "partial", "none"))
    cust["partial_level"] = np.where(partial, level, np.nan)
    cust["react_q"] = react_q
    cust["am_change_q"] = am_change
    cust["prev_am_idx"] = prev_am


def _matrices(rng, cust, cal, p):
    """Customer x quarter matrices of expected activity, with the planted dynamics."""
    n, Q = len(cust), cal.n
    q = np.arange(Q)[None, :]
    join_q = cust["join_q"].to_numpy()[:, None]
    t = q - join_q
    joined = t >= 0
    ramp_len = np.maximum(cust["ramp"].to_numpy()[:, None], 1)
    x = np.clip((t + 0.5) / ramp_len, 0, 1)
    ramp = np.where(cust["initial"].to_numpy()[:, None], 1.0, 0.12 + 0.88 * x * x * (3 - 2 * x))
    in_ramp = ~cust["initial"].to_numpy()[:, None] & (t < ramp_len) & joined

    h = cust["h"].to_numpy()[:, None]
    churn_q = cust["planned_churn_q"].to_numpy()[:, None]
    react_q = cust["react_q"].to_numpy()[:, None]
    # Quarters into habituation, frozen at churn, reset by a reactivation.
    k = np.clip(np.minimum(q, churn_q - 1) - h + 1, 0, None)
    k = np.where(q >= react_q, 0, k)
    kind = cust["churn_kind"].to_numpy()[:, None]
    after = q >= churn_q
    full_off = after & (kind == "full") & (q < react_q)
    partial_on = after & (kind == "partial")
    reactivated = q >= react_q

    sow = np.maximum(1 - 0.08 * k, 0.6)                     # share of wallet erodes
    rev_f = ramp * sow
    rev_f = np.where(partial_on, cust["partial_level"].to_numpy()[:, None], rev_f)
    rev_f = np.where(full_off, 0.0, rev_f)
    rev_f = np.where(reactivated, 0.5, rev_f)
    rev_f = np.where(joined, rev_f, 0.0)
    season = np.asarray(p["seasonality"])[cal.season][None, :]
    trend = (1 + p["yearly_trend"]) ** (q / 4)
    level_q = cust["level"].to_numpy()[:, None] / 4
    noise = rng.gamma(6.0, 1 / 6.0, (n, Q))
    revenue = level_q * trend * season * rev_f * noise

    rel = cust["level"].to_numpy() / np.median(cust["level"].to_numpy())
    lines = (rel ** 0.45)[:, None] * season * rev_f ** 0.6
    # About a tenth of the drawn lines is worth less than one article and is dropped when the
    # lines are priced (see _order_lines), so draw that many more.
    lines *= 1.1 * p["lines_per_customer"] * n / lines.sum()
    order_freq = np.clip(2.0 + 3.0 * rel ** 0.35, 2.5, 15)[:, None] * np.maximum(1 - 0.12 * k, 0.4) * np.where(rev_f > 0, rev_f ** 0.3, 0)

    seg_mult = np.array([1.3, 1.1, 0.8, 0.7])[cust["seg"].to_numpy()]
    contact_base = (0.6 + 0.9 * rel ** 0.35) * seg_mult
    decay = np.where(k > 0, np.maximum(0.55 ** k, 0.15), 1.0)    # contact frequency decays
    contact_f = decay * np.where(in_ramp, 1.4, 1.0)
    contact_f = np.where(full_off, 0.15, np.where(partial_on, np.minimum(contact_f, 0.6), contact_f))
    contact_f = np.where(reactivated, 0.8, contact_f)
    contacts = np.where(joined, contact_base[:, None] * contact_f, 0.0)
    novelty = np.where(k > 0, np.maximum(0.6 ** k, 0.1), 1.0)    # fewer trainings and events

    complaint_f = np.minimum(1 + 0.7 * k, 4.0) * np.where(rev_f > 0, 1.0, 0.0)
    complaints = 0.25 * (rel ** 0.3)[:, None] * complaint_f
    resolution = 10.0 * np.minimum(1 + 0.4 * k, 3.0)
    return {"revenue": revenue, "rev_f": rev_f, "lines": lines, "order_freq": order_freq,
            "contacts": contacts, "novelty": novelty, "in_ramp": in_ramp, "k": k,
            "complaints": complaints, "resolution": resolution, "joined": joined}


def _order_lines(rng, cust, m, cal, catalogue, p):
    n, Q = m["revenue"].shape
    groups, products = catalogue["groups"], catalogue["products"]
    G = len(groups)
    active = m["rev_f"] > 0
    n_lines = np.where(active, rng.poisson(m["lines"]), 0)
    n_lines = np.where(active & (n_lines == 0) & (m["lines"] > 0.5), 1, n_lines)
    n_orders = np.minimum(1 + rng.poisson(np.maximum(m["order_freq"] - 1, 0)), np.maximum(n_lines, 1))
    n_orders = np.where(n_lines > 0, n_orders, 0)

    cell = np.flatnonzero(n_lines.ravel())                   # customer-quarter cells with lines
    c_idx, q_idx = np.divmod(cell, Q)
    lines_per_cell = n_lines.ravel()[cell]
    line_cell = np.repeat(np.arange(len(cell)), lines_per_cell)
    L = len(line_cell)

    # Orders: each line joins one of its cell's orders; each order gets one business day.
    orders_per_cell = n_orders.ravel()[cell]
    order_offset = np.concatenate([[0], np.cumsum(orders_per_cell)[:-1]])
    slot = (rng.random(L) * orders_per_cell[line_cell]).astype(np.int64)
    order_key = order_offset[line_cell] + slot
    order_days = cal.random_days(rng, np.repeat(q_idx, orders_per_cell))

    # Product groups: the customer's own business unit first, others adopted over time
    # (cross-selling); habituating customers stop adopting new groups.
    bu = cust["bu"].to_numpy()
    own = groups["business_unit"].to_numpy()[None, :] == np.array(BUSINESS_UNITS)[bu][:, None]
    weight = rng.gamma(1.0, 1.0, (n, G)) * np.where(own, 1.0, 0.25)
    # Small customers rarely buy the expensive devices: a line has to be worth an article.
    per_line = (m["revenue"].sum(axis=1) / np.maximum(m["lines"].sum(axis=1), 1))[:, None]
    mean_price = products.groupby("group")["list_price"].mean().to_numpy()[None, :]
    weight = weight * np.minimum(1.0, per_line / mean_price)
    core = np.argmax(np.where(own, weight, -1), axis=1)
    join_q = cust["join_q"].to_numpy()
    adopt = join_q[:, None] + rng.geometric(np.where(own, 0.12, 0.04)) - 1
    adopt = np.where(cust["initial"].to_numpy()[:, None] & (rng.random((n, G)) < np.where(own, 0.6, 0.15)),
                     0, adopt)
    adopt[np.arange(n), core] = join_q
    h = cust["h"].to_numpy()[:, None]
    adopt = np.where((adopt >= h) & (np.arange(G)[None, :] != core[:, None]), _NEVER, adopt)
    cell_w = weight[c_idx] * (adopt[c_idx] <= q_idx[:, None])
    cum = np.cumsum(cell_w, axis=1)
    cum /= cum[:, -1:]
    group = (rng.random(L)[:, None] > cum[line_cell]).sum(axis=1)

    # Articles within the group by popularity.
    per_group = products.groupby("group").size().to_numpy()
    first = np.concatenate([[0], np.cumsum(per_group)[:-1]])
    pop = np.ones((G, per_group.max()))
    for g in range(G):
        pop[g, :per_group[g]] = np.cumsum(products["popularity"].to_numpy()[first[g]:first[g] + per_group[g]])
    article = np.minimum((rng.random(L)[:, None] > pop[group]).sum(axis=1), per_group[group] - 1)
    prod = first[group] + article

    # Values: the cell's expected revenue split over its expected lines, priced per article.
    line_c = c_idx[line_cell]
    value = (m["revenue"].ravel()[cell] / np.maximum(m["lines"].ravel()[cell], 0.5))[line_cell]
    value *= rng.lognormal(-0.18, 0.6, L)
    unit_price = products["list_price"].to_numpy()[prod] * (1 - cust["price_discount"].to_numpy()[line_c])
    # Stochastic rounding keeps the expected value; a line worth less than its article is not
    # ordered at all (dropped below), so small customers do not inflate on expensive devices.
    quantity = np.floor(value / unit_price + rng.random(L)).astype(np.int64)
    unit_cost = products["list_price"].to_numpy()[prod] * products["cost_rate"].to_numpy()[prod]
    u = rng.random(L)
    credit = u < p["credit_note_share"]
    zero = (u >= p["credit_note_share"]) & (u < p["credit_note_share"] + p["zero_value_share"])
    quantity = np.where(credit, -np.maximum(quantity // 2, 1), quantity)
    quantity = np.where(zero, 1 + (rng.random(L) < 0.3), quantity)
    net = np.round(quantity * unit_price, 2)
    margin = np.round(quantity * (unit_price - unit_cost), 2)
    net = np.where(zero, 0.0, net)
    margin = np.where(zero, 0.0, margin)

    # Order ids in booking order (date, then customer), lines sorted the same way.
    ord_cust = np.repeat(c_idx, orders_per_cell)
    used = np.zeros(len(order_days), bool)
    keep = quantity != 0
    used[order_key[keep]] = True
    rank = np.lexsort((ord_cust, order_days))
    rank = rank[used[rank]]
    order_no = np.full(len(order_days), -1)
    order_no[rank] = np.arange(len(rank))
    line_order = order_no[order_key]
    sort = np.lexsort((prod, line_order))
    sort = sort[keep[sort]]
    return {
        "order_no": line_order[sort], "customer": line_c[sort],
        "order_date": order_days[order_key][sort], "product": prod[sort],
        "group": group[sort], "quantity": quantity[sort], "net_revenue": net[sort],
        "contribution_margin": margin[sort], "_products": products, "_groups": groups,
    }


def _credit_note_customer(rng, orders, cust, cal, catalogue, end):
    """One extra customer whose only order lines are credit notes: a few returns of articles bought
    before the history, booked on business days up to ``end``. Returns the order lines with the
    customer's lines merged in (order ids again in booking order) and its master row."""
    c = len(cust)
    products = catalogue["products"]
    k = 3                                                 # credit notes
    lo, hi = cal.first_day[0], np.datetime64(pd.Timestamp(end).date(), "D")
    span = (hi - lo).astype(int) + 1
    days = np.sort(_business_day(lo + (rng.random(k) * span).astype("timedelta64[D]"), lo, hi))
    per_order = rng.integers(1, 3, k)                     # one or two lines each
    L = int(per_order.sum())
    line_order = np.repeat(np.arange(k), per_order)
    prod = rng.integers(0, len(products), L)
    quantity = -rng.integers(1, 4, L).astype(np.int64)
    price = products["list_price"].to_numpy()[prod]
    cost = price * products["cost_rate"].to_numpy()[prod]
    net = np.round(quantity * price, 2)
    margin = np.round(quantity * (price - cost), 2)

    # Merge, then number all orders again by booking day and customer.
    n_old = int(orders["order_no"].max()) + 1 if len(orders["order_no"]) else 0
    order_no = np.concatenate([orders["order_no"], n_old + line_order])
    customer = np.concatenate([orders["customer"], np.full(L, c)])
    order_date = np.concatenate([orders["order_date"], days[line_order]])
    day_of, cust_of = np.empty(n_old + k, order_date.dtype), np.empty(n_old + k, np.int64)
    day_of[order_no], cust_of[order_no] = order_date, customer
    rank = np.lexsort((np.arange(n_old + k), cust_of, day_of))
    new_no = np.empty(n_old + k, np.int64)
    new_no[rank] = np.arange(n_old + k)
    order_no = new_no[order_no]
    prod_all = np.concatenate([orders["product"], prod])
    sort = np.lexsort((prod_all, order_no))
    merged = {"order_no": order_no[sort], "customer": customer[sort], "order_date": order_date[sort],
              "product": prod_all[sort],
              "group": np.concatenate([orders["group"], products["group"].to_numpy()[prod]])[sort],
              "quantity": np.concatenate([orders["quantity"], quantity])[sort],
              "net_revenue": np.concatenate([orders["net_revenue"], net])[sort],
              "contribution_margin": np.concatenate([orders["contribution_margin"], margin])[sort],
              "_products": orders["_products"], "_groups": orders["_groups"]}
    master = {"customer_id": f"K{10001 + c}", "name": "Sanitätshaus Lindemann GmbH & Co. KG",
              "segment": "Sanitätshaus", "region": "Nord", "business_unit": BUSINESS_UNITS[1],
              "account_manager": _ACCOUNT_MANAGERS["Nord"][0],
              # a customer since before the history (the goods it returns were bought then)
              "since": pd.Timestamp(cal.first_day[0]) - pd.DateOffset(years=3),
              "first_quarter": cal.labels[0]}
    return merged, master


def _credit_note_truth(extra, columns):
    """The truth row of the credit-note customer (no trajectory: it never bought in the history)."""
    row = {col: "" for col in columns}
    row.update({k: extra[k] for k in ["customer_id", "name", "segment", "region", "business_unit",
                                      "account_manager", "first_quarter"]})
    row.update({"archetype": "credit_notes_only", "customer_since": extra["since"].strftime("%Y-%m-%d"),
                "is_new": False, "ramp_quarters": 0, "revenue_level": 0.0, "potential_true": np.nan,
                "share_of_wallet": np.nan, "habituation_lag": 0, "churn_kind": "none",
                "partial_level": np.nan, "at_risk_at_end": False})
    return pd.DataFrame([row])[list(columns)]


def _cut_after(end, orders, contacts, complaints, potentials, surveys, survey_truth):
    """Drop every dated row after ``end`` (a world generated through the end of end's quarter);
    complaints resolved after ``end`` are still open on ``end``."""
    day = np.datetime64(end.date(), "D")
    keep = orders["order_date"] <= day
    orders = {k: (v[keep] if not k.startswith("_") else v) for k, v in orders.items()}
    # Orders are numbered by booking day, so the cut ones are the last numbers; renumber anyway.
    orders["order_no"] = np.unique(orders["order_no"], return_inverse=True)[1].reshape(-1)
    contacts = contacts[contacts["contact_date"] <= end].reset_index(drop=True)
    complaints = complaints[complaints["complaint_date"] <= end].reset_index(drop=True)
    complaints["resolved_on"] = complaints["resolved_on"].where(complaints["resolved_on"] <= end)
    potentials = potentials[potentials["assessed_on"] <= end].reset_index(drop=True)
    in_time = (surveys["survey_date"] <= end).to_numpy()
    surveys = surveys[in_time].reset_index(drop=True)
    survey_truth = survey_truth[in_time].reset_index(drop=True)
    return orders, contacts, complaints, potentials, surveys, survey_truth


def _regroup_business_units(rng, bu, n_units):
    """Map the generated business units (0..2, BUSINESS_UNITS) onto ``n_units`` units.

    Fewer than three: the first ``n_units`` of BUSINESS_UNITS, the others' customers folded in
    (unit ``bu % n_units``). More: unit j >= 3 splits off BUSINESS_UNITS[(j - 3) % 3], and each
    generated unit's customers are dealt out evenly (in a seeded order) over it and its offshoots,
    so every unit gets customers when there are enough. Returns (names, unit per customer)."""
    names = (BUSINESS_UNITS + _EXTRA_BUSINESS_UNITS)[:n_units]
    if n_units <= len(BUSINESS_UNITS):
        return names, bu % n_units
    unit = np.array(bu, copy=True)
    order = rng.permutation(len(bu))
    for b in range(len(BUSINESS_UNITS)):
        family = np.array([b] + [j for j in range(len(BUSINESS_UNITS), n_units)
                                 if (j - len(BUSINESS_UNITS)) % len(BUSINESS_UNITS) == b])
        members = order[bu[order] == b]
        unit[members] = family[np.arange(len(members)) % len(family)]
    return names, unit


def _expand_cells(rng, rates):
    """Poisson counts per customer-quarter cell, expanded to one row per event."""
    counts = rng.poisson(rates).ravel()
    cell = np.repeat(np.arange(counts.size), counts)
    return np.divmod(cell, rates.shape[1])


def _contacts(rng, cust, m, cal):
    c, q = _expand_cells(rng, m["contacts"])
    novelty = m["novelty"][c, q]
    p_training = np.where(m["in_ramp"][c, q], 0.20, 0.07) * novelty
    p_event = 0.07 * novelty
    u = rng.random(len(c))
    rest = (u - p_training - p_event) / np.maximum(1 - p_training - p_event, 1e-9)
    channel = np.where(u < p_training, "training", np.where(
        u < p_training + p_event, "event",
        np.where(rest < 0.38, "visit", np.where(rest < 0.75, "call", "email"))))
    am_names = np.array([a for r in REGIONS for a in _ACCOUNT_MANAGERS[r]])
    am = np.where(q < cust["am_change_q"].to_numpy()[c], cust["prev_am_idx"].to_numpy()[c],
                  cust["am_idx"].to_numpy()[c])
    df = pd.DataFrame({"customer_id": cust["customer_id"].to_numpy()[c],
                       "contact_date": pd.to_datetime(cal.random_days(rng, q)).astype("datetime64[ns]"),
                       "channel": channel, "account_manager": am_names[am], "_c": c})
    return df.sort_values(["contact_date", "_c", "channel"], kind="stable").drop(columns="_c").reset_index(drop=True)


def _complaints(rng, cust, m, cal):
    c, q = _expand_cells(rng, m["complaints"])
    n = len(c)
    k = m["k"][c, q]
    u = rng.random(n)
    kind = np.where(u < 0.5, "complaint", np.where(u < 0.8, "return", "delivery"))
    sev_p1 = np.where(k > 0, 0.40, 0.60)
    sev_p2 = np.where(k > 0, 0.80, 0.90)
    u = rng.random(n)
    severity = np.where(u < sev_p1, 1, np.where(u < sev_p2, 2, 3))
    value = np.round(rng.lognormal(np.log(150), 0.8, n) * severity, 2)
    day = cal.random_days(rng, q)
    mean_days = m["resolution"][c, q] * np.array([0, 1.0, 1.3, 1.8])[severity]
    days = np.ceil(rng.gamma(2.0, mean_days / 2.0)).astype(int)
    resolved = day + days.astype("timedelta64[D]")
    open_ = (resolved > np.datetime64(cal.end.date(), "D")) | (rng.random(n) < 0.02)
    df = pd.DataFrame({
        "customer_id": cust["customer_id"].to_numpy()[c],
        "complaint_date": pd.to_datetime(day).astype("datetime64[ns]"), "kind": kind,
        "severity": severity, "value": value,
        "resolved_on": pd.to_datetime(np.where(open_, np.datetime64("NaT"), resolved)).astype("datetime64[ns]"),
        "_c": c})
    return df.sort_values(["complaint_date", "_c"], kind="stable").drop(columns="_c").reset_index(drop=True)


def _potentials(rng, cust, m, cal):
    """One assessment per customer and year (in January; in the joining year at the start)."""
    years = np.unique(cal.year)
    join_q = cust["join_q"].to_numpy()
    join_year = cal.year[join_q]
    c, y = np.nonzero(years[None, :] >= join_year[:, None])
    year = years[y]
    first_q_of_year = np.searchsorted(cal.year, year)
    q = np.where(year == join_year[c], join_q[c], first_q_of_year)
    lo = cal.first_day[q]
    day = _business_day(lo + rng.integers(0, 20, len(c)).astype("timedelta64[D]"), lo, cal.last_day[q])
    potential = (cust["potential_true"].to_numpy()[c] * 1.025 ** (year - years[0])
                 * np.exp(rng.normal(0, 0.18, len(c))))
    potential = np.maximum(np.round(potential / 500) * 500, 1000.0)
    # Competitors push harder where a relationship wears out.
    h = cust["h"].to_numpy()[c]
    ci = cust["competition_base"].to_numpy()[c] + np.where(q >= h, 1.2, 0) + rng.normal(0, 0.4, len(c))
    ci = pd.array(np.clip(np.round(ci), 1, 5).astype(int), dtype="Int64")
    ci[rng.random(len(c)) < 0.03] = pd.NA
    df = pd.DataFrame({"customer_id": cust["customer_id"].to_numpy()[c],
                       "assessed_on": pd.to_datetime(day).astype("datetime64[ns]"),
                       "potential": potential, "competitive_intensity": ci})
    return df.sort_values(["assessed_on", "customer_id"], kind="stable").reset_index(drop=True)


def _surveys(rng, cust, m, cal, p):
    n, Q = len(cust), cal.n
    join_q = cust["join_q"].to_numpy()
    last_q = np.where(cust["churn_kind"].to_numpy() == "full", cust["churn_q"].to_numpy() - 1, Q - 1)
    last_q = np.minimum(last_q, Q - 1)
    eligible = last_q >= join_q + 2
    chosen = eligible & (rng.random(n) < p["survey_share"] / max(eligible.mean(), 1e-9))
    times = np.where(chosen, 1 + (rng.random(n) < p["second_survey_share"]), 0)
    c = np.repeat(np.arange(n), times)
    lo = join_q[c] + 1
    # Habituating customers are often asked while the relationship wears out.
    h = cust["h"].to_numpy()[c]
    late = (h <= last_q[c]) & (rng.random(len(c)) < 0.6)
    lo = np.where(late, np.maximum(h, lo), lo)
    q = lo + (rng.random(len(c)) * (last_q[c] - lo + 1)).astype(int)
    k = m["k"][c, q]
    sudden_soon = (cust["archetype"].to_numpy()[c] == "sudden_churn") & (cust["planned_churn_q"].to_numpy()[c] - q <= 4)
    sat = (cust["satisfaction_base"].to_numpy()[c] - np.where(k > 0, np.minimum(1.0 + 0.6 * k, 3.5), 0)
           - 0.5 * sudden_soon + rng.normal(0, 0.8, len(c)))
    satisfaction = np.clip(np.round(sat), 0, 10).astype(int)
    recommend = np.clip(np.round(sat + rng.normal(-0.2, 1.3, len(c))), 0, 10).astype(int)
    day = cal.random_days(rng, q)
    df = pd.DataFrame({"customer_id": cust["customer_id"].to_numpy()[c],
                       "survey_date": pd.to_datetime(day).astype("datetime64[ns]"),
                       "satisfaction": satisfaction, "would_recommend": recommend, "_c": c})
    df = df.drop_duplicates(["customer_id", "survey_date"]).copy()
    truth = df[["customer_id", "survey_date"]].copy()

    # Free text: loyal respondents talk about Service/Außendienst/Qualität/Schulung, at-risk ones
    # about Preis/Lieferzeit/Ansprechpartner gewechselt/keine Neuheiten.
    p_loyal = 1 / (1 + np.exp(-1.3 * (df["satisfaction"].to_numpy() - 6.5)))
    for col, phrases in _PHRASES.items():
        text, theme = _answers(rng, phrases, p_loyal)
        df[col], truth[f"{col}_theme"] = text, theme
    refer, refer_kind, refer_id = _referrals(rng, cust, df["would_recommend"].to_numpy(), df["_c"].to_numpy())
    df["would_refer_to"], truth["refer_kind"], truth["referred_customer_id"] = refer, refer_kind, refer_id
    truth["survey_date"] = truth["survey_date"].dt.strftime("%Y-%m-%d")
    order = np.lexsort((df["_c"].to_numpy(), df["survey_date"].to_numpy()))
    df = df.drop(columns="_c").iloc[order].reset_index(drop=True)
    return df, truth.iloc[order].reset_index(drop=True)


def _answers(rng, phrases, p_loyal):
    """One answer per respondent: a theme drawn by loyalty, a phrase, sometimes a second one."""
    n = len(p_loyal)
    loyal = rng.random(n) < p_loyal
    themes = np.where(loyal, np.array(_LOYAL_THEMES)[rng.integers(0, 4, n)],
                      np.array(_RISK_THEMES)[rng.integers(0, 4, n)])
    second = np.where(loyal, np.array(_LOYAL_THEMES)[rng.integers(0, 4, n)],
                      np.array(_RISK_THEMES)[rng.integers(0, 4, n)])
    u1, u2, u3 = rng.random(n), rng.random(n), rng.random(n)
    flat = {t: np.array(v, dtype=object) for t, v in phrases.items()}
    text = np.empty(n, dtype=object)
    extra = np.empty(n, dtype=object)
    for t, arr in flat.items():                     # 8 themes: a loop over themes, not rows
        sel = themes == t
        text[sel] = arr[(u1[sel] * len(arr)).astype(int)]
        sel2 = second == t
        extra[sel2] = arr[(u2[sel2] * len(arr)).astype(int)]
    two = (rng.random(n) < 0.35) & (extra != text)
    text = np.where(two, text + " " + extra, text)
    empty = u3 < 0.12
    label = np.where(two & (second != themes), np.char.add(np.char.add(themes.astype(str), "|"), second.astype(str)), themes)
    return np.where(empty, None, text), np.where(empty, None, label)


def _referrals(rng, cust, recommend, c):
    n = len(c)
    u = rng.random(n)
    promoter = recommend >= 7
    kind = np.where(~promoter & (u < 0.6), "none",
                    np.where(u < 0.28, "existing", np.where(u < 0.50, "new", np.where(u < 0.85, "general", "empty"))))
    # An existing customer in the same region (people recommend to neighbours).
    names = cust["name"].to_numpy()
    region = cust["region_idx"].to_numpy()
    by_region = [np.flatnonzero(region == r) for r in range(4)]
    pick = np.array([by_region[region[i]][int(v * len(by_region[region[i]]))]
                     for i, v in zip(c, rng.random(n))], dtype=int) if n else np.zeros(0, int)
    pick = np.where(pick == c, (pick + 1) % len(cust), pick)
    lead = np.array(_NEW_LEADS, dtype=object)[rng.integers(0, len(_NEW_LEADS), n)]
    v = rng.random(n)
    out = np.empty(n, dtype=object)
    for k in ["existing", "new", "general", "none"]:
        sel = kind == k
        tpl = np.array(_REFERRAL_PHRASES[k], dtype=object)[(v[sel] * len(_REFERRAL_PHRASES[k])).astype(int)]
        target = names[pick[sel]] if k == "existing" else lead[sel]
        out[sel] = [t.format(name=x) for t, x in zip(tpl, target)]
    refer_id = np.where(kind == "existing", cust["customer_id"].to_numpy()[pick], None)
    return out, np.where(kind == "empty", None, kind), refer_id


# --- writing ----------------------------------------------------------------------------------

def _write_orders(o, path, margin=True, products=True):
    catalogue_products, groups = o["_products"], o["_groups"]
    n_orders = int(o["order_no"].max()) + 1 if len(o["order_no"]) else 0
    order_ids = pa.array([f"A{i + 1:07d}" for i in range(n_orders)], pa.string())
    cust_ids = pa.array([f"K{10001 + i}" for i in range(int(o["customer"].max()) + 1)], pa.string())
    columns = {
        "order_id": order_ids.take(pa.array(o["order_no"])),
        "customer_id": cust_ids.take(pa.array(o["customer"])),
        "order_date": pa.array(o["order_date"].astype("datetime64[D]"), pa.date32()),
        "product_id": pa.array(catalogue_products["product_id"].to_numpy(), pa.string()).take(pa.array(o["product"])),
        "product_group": pa.array(groups["product_group"].to_numpy(), pa.string()).take(pa.array(o["group"])),
        "quantity": pa.array(o["quantity"], pa.int32()),
        "net_revenue": pa.array(o["net_revenue"], pa.float64()),
        "contribution_margin": pa.array(o["contribution_margin"], pa.float64()),
    }
    if not products:
        del columns["product_id"], columns["product_group"]
    if not margin:
        del columns["contribution_margin"]
    table = pa.table(columns)
    pq.write_table(table, path, compression="zstd", row_group_size=256_000)


def _german_number(values, decimals=2):
    """``1234.5 -> "1.234,50"`` (empty for missing), the way a German ERP exports money."""
    s = pd.Series(values, dtype="float64")
    out = s.map(("{:,.%df}" % decimals).format).str.translate(str.maketrans(",.", ".,"))
    return out.where(s.notna(), None)


def _write_german_csv(df, path):
    df = df.copy()
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            df[col] = s.dt.strftime(CSV_DIALECT["date_format"])
        elif pd.api.types.is_float_dtype(s):
            df[col] = _german_number(s)
    # CRLF like a Windows export; cp1252 encodes every character the generator uses.
    df.to_csv(path, sep=CSV_DIALECT["sep"], index=False, encoding=CSV_DIALECT["encoding"],
              lineterminator="\r\n")


def _quarter_date(cal, q):
    q = np.asarray(q)
    ok = q <= cal.n - 1
    out = np.where(ok, cal.first_day[np.clip(q, 0, cal.n - 1)].astype(str), "")
    return out


def _truth(cust, cal):
    t = cust
    h = t["h"].to_numpy()
    churned = t["churn_kind"].to_numpy() != "none"
    at_risk = (t["archetype"].to_numpy() == "habituating") & ~churned
    since = pd.to_datetime(t["since"]).dt.strftime("%Y-%m-%d")
    return pd.DataFrame({
        "customer_id": t["customer_id"], "name": t["name"], "segment": t["segment"],
        "region": t["region"], "business_unit": t["business_unit"],
        "account_manager": t["account_manager"], "archetype": t["archetype"],
        "customer_since": since, "first_quarter": np.array(cal.labels)[t["join_q"].to_numpy()],
        "is_new": ~t["initial"].to_numpy(), "ramp_quarters": t["ramp"],
        "revenue_level": t["level"].round(2), "potential_true": t["potential_true"].round(2),
        "share_of_wallet": (t["level"] / t["potential_true"]).round(4),
        "habituation_start": _quarter_date(cal, h),
        "habituation_lag": np.where(h < _NEVER, t["lag"], 0),
        "churn_kind": t["churn_kind"], "churn_date": _quarter_date(cal, t["churn_q"].to_numpy()),
        # Habituating customers still active at the end: the quarter their churn was planned for.
        "planned_churn_quarter": [str(pd.Period(cal.labels[0], freq="Q-DEC") + int(v)) if r else ""
                                  for v, r in zip(t["planned_churn_q"].to_numpy(), at_risk)],
        "partial_level": t["partial_level"].round(3),
        "reactivated_on": _quarter_date(cal, t["react_q"].to_numpy()),
        "at_risk_at_end": at_risk,
        "account_manager_changed_on": _quarter_date(cal, t["am_change_q"].to_numpy()),
        "previous_account_manager": np.where(
            t["am_change_q"].to_numpy() < _NEVER,
            np.array([a for r in REGIONS for a in _ACCOUNT_MANAGERS[r]])[t["prev_am_idx"].to_numpy()], ""),
    })


def _world_json(customers, seed, cal, p, catalogue, truth, rows):
    g = catalogue["groups"]
    return {
        "generator": "bestandlib.demo.generate_demo",
        "customers": customers, "seed": int(seed),
        "start": cal.start.strftime("%Y-%m-%d"), "end": cal.end.strftime("%Y-%m-%d"),
        "parameters": p,
        "potential_relation": {bu: {"slope": s, "noise_sd": e, "offset": o}
                               for bu, (s, e, o) in _POTENTIAL_RELATION.items()},
        "product_groups": [{"code": r.code, "product_group": r.product_group,
                            "business_unit": r.business_unit, "margin_rate": r.margin_rate,
                            "articles": int(r.articles)} for r in g.itertuples()],
        "account_managers": _ACCOUNT_MANAGERS,
        "counts": {"rows": rows,
                   "archetypes": {k: int(v) for k, v in truth["archetype"].value_counts().sort_index().items()},
                   "churn_kinds": {k: int(v) for k, v in truth["churn_kind"].value_counts().sort_index().items()},
                   "at_risk_at_end": int(truth["at_risk_at_end"].sum())},
        "truth_columns": list(truth.columns),
    }
