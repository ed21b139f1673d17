"""The robustness matrix: full reports on the worlds of ``bestandlib.demo.SHAPES``.

Every world of SHAPES (about 200 customers, a different *shape* than the demo: history length,
business units, a bare customer master, missing tables and columns, a tiny base, no churn, credit
notes, an extract ending mid-quarter) is generated once per test worker and rendered once, into its own
reports folder. For each report:

* it is published (no notebook failed): ``index.html``, one page per notebook, ``run.json``;
* ``run.json`` lists exactly the sections the world cannot support (``EXPECTED``, written out per
  shape), each with a reason that says why (potentials.csv, quarters of history, the margin column);
* every section that is not available shows its note ("Nicht verfügbar: braucht potentials.csv." /
  "Not available: needs ...") on the page of its notebook, in the report's language, and a page whose
  sections can all run shows no such note;
* the entry page has the data-coverage section, naming every section that is not available.

One more report renders a quarter in the middle of the data (the years_4 world at 2024Q2).

Time budget (``make test`` on 2 cores): a report costs 15-30 s (seven notebooks, each in its own
kernel), so

* each world is rendered in ONE language, alternating German and English over ``WORLDS`` (both
  languages are covered; ``benchmarks/matrix.py`` renders every SHAPES world in both);
* shapes that change independent things and support the same sections share one world (``WORLDS``:
  ``bu_12+credit_note`` is twelve business units *and* a credit-note customer; ``bu_3`` and
  ``potentials_all`` are the same world), which renders 14 reports instead of 18;
* the worlds are grouped into test classes of two reports each, so ``pytest -n 2 --dist loadscope``
  spreads them over both workers.
"""
from __future__ import annotations

import html
import json
import re
import traceback
from pathlib import Path

import pytest

from bestandlib import demo, i18n, needs, pipeline

pytestmark = pytest.mark.slow

PAGES = {  # notebook -> page; one page per analysis notebook
    "01": "01_customer_history.html", "02": "02_customer_value.html", "03": "03_revenue_potential.html",
    "04": "04_relationship_phases.html", "05": "05_churn_risk.html", "06": "06_retention_actions.html",
    "07": "07_voice_and_loyalty.html",
}
# The page on which a section shows its note: by the key's prefix (history->01, value->02, potential->03,
# phases->04, churn->05, actions->06, voice/loyalty->07) ...
PAGE_OF_PREFIX = {"history": "01", "value": "02", "potential": "03", "phases": "04", "churn": "05",
                  "actions": "06", "voice": "07", "loyalty": "07"}
# ... except where a notebook asks for a section of another prefix (test_sections_are_asked_on_their_page
# checks this table against the notebooks' ``s.section("...")`` calls).
PAGE_OF_SECTION = {"loyalty.kept_vs_new": "06"}  # "1 kept = N new" sits on the retention-actions page


def page_of(section: str) -> str:
    return PAGE_OF_SECTION.get(section, PAGE_OF_PREFIX[section.split(".")[0]])


# --- what each shape cannot support -------------------------------------------------------------

POTENTIALS = r"^needs potentials\.csv$"
ACTIONS_LOG = r"^needs actions_log\.csv$"  # no demo world has a log of retention actions
MARGIN = r"^needs the column contribution_margin in orders$"


def quarters(have: int) -> str:
    """A history-length reason; the minimum comes from the configuration, the count from the data."""
    return rf"^needs at least \d+ quarters of history, the data have {have}$"


def customers(need: int, have: int) -> str:
    return rf"^needs at least {need} active customers, the data have {have}$"


ONLY_ACTIONS = {"actions.log": ACTIONS_LOG}
#: shape -> {section not available: pattern of its (English) reason in run.json}; the set is exact.
EXPECTED: dict[str, dict[str, str]] = {
    # one year = 4 quarters: no cohorts by year, no migration against a year ago, no tested churn
    # model (training quarters + outcome windows), nobody long enough to habituate or to count as loyal
    "years_1": {"history.cohorts": quarters(4), "value.migration": quarters(4),
                "phases.habituation": quarters(4), "churn.model": quarters(4), **ONLY_ACTIONS,
                "loyalty.claims": quarters(4), "loyalty.kept_vs_new": quarters(4)},
    "years_2": {"churn.model": quarters(8), **ONLY_ACTIONS, "loyalty.claims": quarters(8)},
    "years_4": {**ONLY_ACTIONS, "loyalty.claims": quarters(16)},  # loyal = 16 quarters tenure, + 1
    "years_10": dict(ONLY_ACTIONS),
    "bu_1": dict(ONLY_ACTIONS),
    "bu_3": dict(ONLY_ACTIONS),
    "bu_12": dict(ONLY_ACTIONS),
    "blank_master": dict(ONLY_ACTIONS),
    "potentials_none": {"value.matrix": POTENTIALS, "value.migration": POTENTIALS,
                        "potential.tests": POTENTIALS, "potential.over_time": POTENTIALS, **ONLY_ACTIONS},
    "potentials_30": dict(ONLY_ACTIONS),
    "potentials_all": dict(ONLY_ACTIONS),
    "two_tables": {"value.matrix": POTENTIALS, "value.migration": POTENTIALS,
                   "potential.tests": POTENTIALS, "potential.over_time": POTENTIALS,
                   "phases.habituation": r"^needs contacts\.csv$", **ONLY_ACTIONS,
                   "voice.surveys": r"^needs surveys\.csv$"},
    # 25 customers, 23 of them active: too few for the revenue-potential tests (stats.min_n 30), enough
    # for the quadrant matrix (10), the churn model and BG/NBD (20); 15 quarters up to 2025Q3
    "customers_25": {"potential.tests": customers(30, 23), **ONLY_ACTIONS, "loyalty.claims": quarters(15)},
    "no_churn": dict(ONLY_ACTIONS),
    "credit_note": dict(ONLY_ACTIONS),
    "mid_quarter": dict(ONLY_ACTIONS),
    "no_margin": {"history.margin": MARGIN, **ONLY_ACTIONS, "loyalty.kept_vs_new": MARGIN},
}
#: sections that must run in a shape's world (besides: everything not in EXPECTED runs)
MUST_RUN = {"potentials_all": ["value.matrix", "value.migration", "potential.tests"],
            "potentials_30": ["value.matrix", "potential.tests"],
            "years_10": ["value.matrix", "churn.model", "loyalty.claims", "history.cohorts"],
            "customers_25": ["value.matrix", "churn.model", "churn.btyd"]}
#: the quarter a report without --quarter renders (the latest complete one) when not 2025Q4
QUARTER = {"mid_quarter": "2025Q3",   # the extract ends on 15 November
           "customers_25": "2025Q3"}  # its last order is dated 30 December: Q4 is not complete

# --- the worlds rendered: SHAPES alone, or two shapes that change independent things in one world ---

WORLDS = {  # test class -> worlds ("a+b": one world with the arguments of both shapes)
    "TestShortHistory": ("years_1", "years_2"),
    "TestTenYearsAndTinyBase": ("years_10", "customers_25"),
    "TestBusinessUnitsAndPotentials": ("bu_1+potentials_30", "bu_3+potentials_all"),
    "TestMasterAndOrderLines": ("bu_12+credit_note", "blank_master+mid_quarter"),
    "TestMissingTables": ("potentials_none", "two_tables"),
    "TestNoChurnNoMargin": ("no_churn", "no_margin"),
    "TestFourYears": ("years_4",),  # + the report for a quarter in the middle of the data
}
ALL_WORLDS = [w for ws in WORLDS.values() for w in ws]
LANG = {w: ("de", "en")[i % 2] for i, w in enumerate(ALL_WORLDS)}  # alternate over the worlds
MIDDLE = ("years_4", "2024Q2")  # rendered in the language years_4 is not
MIDDLE_LANG = "en" if LANG["years_4"] == "de" else "de"


def shapes_of(world: str) -> list[str]:
    return world.split("+")


def world_kwargs(world: str) -> dict:
    """``generate_demo`` arguments of a world: the union of its shapes' (which must not disagree)."""
    merged: dict = {}
    for shape in shapes_of(world):
        for key, value in demo.SHAPES[shape].items():
            assert merged.get(key, value) == value, f"{world}: the shapes disagree on {key}"
            merged[key] = value
    return merged


def expected(world: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for shape in shapes_of(world):
        for section, pattern in EXPECTED[shape].items():
            assert out.get(section, pattern) == pattern, f"{world}: the shapes disagree on {section}"
            out[section] = pattern
    return out


def expected_quarter(world: str) -> str:
    quarters_ = {QUARTER[s] for s in shapes_of(world) if s in QUARTER}
    assert len(quarters_) <= 1, f"{world}: the shapes disagree on the quarter"
    return quarters_.pop() if quarters_ else "2025Q4"


NOTE_PREFIX = {lang: i18n.t("not_available", lang) + ": " for lang in ("de", "en")}
# The German wording of the English reasons of run.json (written out here, not read from i18n).
_GERMAN = [
    (r"^needs ([a-z_]+)\.csv$", "braucht {0}.csv"),
    (r"^needs the column (\w+) in (\w+)$", "braucht die Spalte {0} in {1}"),
    (r"^needs at least (\d+) quarters of history, the data have (\d+)$",
     "braucht mindestens {0} Quartale Historie, die Daten haben {1}"),
    (r"^needs at least (\d+) active customers, the data have (\d+)$",
     "braucht mindestens {0} aktive Kunden, die Daten haben {1}"),
]


def reason_in(reason_en: str, lang: str) -> str:
    if lang == "en":
        return reason_en
    for pattern, german in _GERMAN:
        m = re.match(pattern, reason_en)
        if m:
            return german.format(*m.groups())
    raise AssertionError(f"no German wording known for the reason {reason_en!r}")


def expected_note(reasons_en: list[str], lang: str) -> str:
    """The note a skipped section shows: "Nicht verfügbar: braucht potentials.csv." """
    return NOTE_PREFIX[lang] + "; ".join(reason_in(r, lang) for r in reasons_en) + "."


def text_of(fragment: str) -> str:
    """The visible text of HTML, entities decoded, whitespace collapsed."""
    fragment = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", fragment)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"(?s)<[^>]+>", " ", fragment))).strip()


def page_text(path: Path) -> str:
    return text_of(path.read_text(encoding="utf-8"))


# --- worlds and reports, each made once per worker ----------------------------------------------

@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """``data_dir(world)``: the data folder of a world, generated on first use."""
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("shapes")

    def get(world: str) -> Path:
        if world not in made:
            made[world] = root / world.replace("+", "_and_")
            demo.generate_demo(made[world], **world_kwargs(world))
        return made[world]

    return get


class Rendered:
    """A report run: the published folder, or the error that stopped it."""

    def __init__(self, world: str, lang: str, quarter: str | None, folder: Path | None, error: str | None):
        self.world, self.lang, self.quarter, self.folder, self.error = world, lang, quarter, folder, error

    def ok(self) -> Path:
        if self.error is not None:
            pytest.fail(f"{self.world} ({self.lang}, quarter {self.quarter or 'latest'}) did not render:\n"
                        f"{self.error}", pytrace=False)
        return self.folder

    def run(self) -> dict:
        return json.loads((self.ok() / "run.json").read_text(encoding="utf-8"))

    def unavailable(self) -> dict[str, list[str]]:
        return {s["section"]: s["reasons"] for s in self.run()["sections"] if not s["available"]}


@pytest.fixture(scope="module")
def render(data_dir, tmp_path_factory):
    """``render(world, quarter=None, lang=LANG[world])``: the report, rendered on first use into a
    reports folder of its own (``pipeline.run_report``, what ``bestand report`` runs)."""
    done: dict[tuple, Rendered] = {}

    def get(world: str, quarter: str | None = None, lang: str | None = None) -> Rendered:
        lang = lang or LANG[world]
        key = (world, quarter, lang)
        if key not in done:
            root = tmp_path_factory.mktemp("reports")
            try:
                final = pipeline.run_report(quarter=quarter, data_dir=data_dir(world), reports_root=root,
                                            lang=lang, log=lambda msg: None)
                done[key] = Rendered(world, lang, quarter, final, None)
            except Exception as exc:  # a failing notebook names notebook, cell and error
                done[key] = Rendered(world, lang, quarter, None,
                                     "".join(traceback.format_exception_only(type(exc), exc)))
        return done[key]

    return get


def pytest_generate_tests(metafunc):
    if "world" in metafunc.fixturenames and metafunc.cls is not None:
        metafunc.parametrize("world", WORLDS[metafunc.cls.__name__])


# --- the checks, shared by every group of worlds ------------------------------------------------

class _Matrix:
    """The checks for one report per world; the worlds of a subclass are ``WORLDS[<class name>]``."""

    def test_report_is_published(self, render, world):
        rendered = render(world)
        folder = rendered.ok()
        assert (folder / "index.html").is_file()
        missing = [p for p in PAGES.values() if not (folder / p).is_file()]
        assert not missing, f"{world}: pages missing: {missing}"
        run = rendered.run()
        assert run["lang"] == rendered.lang
        assert run["quarter"] == expected_quarter(world) == folder.name
        notebooks = [n["notebook"] for n in run["notebooks"]]
        assert notebooks == [p.replace(".html", ".ipynb") for p in PAGES.values()]

    def test_run_json_lists_the_sections_not_available(self, render, world):
        sections = render(world).run()["sections"]
        assert sorted(s["section"] for s in sections) == sorted(needs.SECTIONS), \
            "run.json must list every declared section"
        for s in sections:
            assert s["available"] == (not s["reasons"]), s
        unavailable = {s["section"]: s["reasons"] for s in sections if not s["available"]}
        want = expected(world)
        assert set(unavailable) == set(want), \
            f"{world}: not available {sorted(unavailable)}, expected {sorted(want)}"
        for section, pattern in want.items():
            reasons = unavailable[section]
            assert any(re.search(pattern, r) for r in reasons), \
                f"{world}: {section} reasons {reasons} do not match {pattern!r}"
        for shape in shapes_of(world):
            for section in MUST_RUN.get(shape, ()):
                assert section not in unavailable, \
                    f"{world}: {section} should run: {unavailable.get(section)}"

    def test_notes_on_the_pages_in_the_report_language(self, render, world):
        check_notes(render(world))

    def test_entry_page_shows_the_data_coverage(self, render, world):
        check_coverage(render(world))


def check_notes(rendered: Rendered) -> None:
    """Each unavailable section's note on its notebook's page, in the report's language; no note on a
    page whose sections all run, and no note in the other language anywhere."""
    folder, lang, world = rendered.ok(), rendered.lang, rendered.world
    other = NOTE_PREFIX["en" if lang == "de" else "de"]
    on_page: dict[str, list[str]] = {}
    for section, reasons in rendered.unavailable().items():
        on_page.setdefault(page_of(section), []).append(expected_note(reasons, lang))
    for nb, page in PAGES.items():
        text = page_text(folder / page)
        assert other not in text, f"{world} ({lang}): {page} has a note in the other language"
        notes = on_page.get(nb, [])
        for note in notes:
            assert note in text, f"{world} ({lang}): {page} lacks the note {note!r}"
        if not notes:
            assert NOTE_PREFIX[lang] not in text, \
                f"{world} ({lang}): {page} shows a note although all its sections run"


def check_coverage(rendered: Rendered) -> None:
    folder, lang, world = rendered.ok(), rendered.lang, rendered.world
    index = (folder / "index.html").read_text(encoding="utf-8")
    m = re.search(r'(?s)<section\b[^>]*\bid="data-coverage"[^>]*>(.*?)</section>', index)
    assert m, f"{world}: index.html has no data-coverage section"
    block = text_of(m.group(1))
    assert i18n.t("data_coverage", lang) in block
    for table in ("customers", "orders"):
        assert table in block
    unavailable = rendered.unavailable()
    if unavailable:
        assert i18n.t("sections_not_available", lang) in block
    for section in unavailable:
        assert needs.section_title(section, lang) in block, \
            f"{world}: {section} not named in the data coverage"


# Two reports per class, so loadscope hands out work in small pieces and both workers finish together.

class TestShortHistory(_Matrix):
    pass


class TestTenYearsAndTinyBase(_Matrix):
    pass


class TestBusinessUnitsAndPotentials(_Matrix):
    pass


class TestMasterAndOrderLines(_Matrix):
    pass


class TestMissingTables(_Matrix):
    pass


class TestNoChurnNoMargin(_Matrix):
    pass


class TestFourYears(_Matrix):
    """The 4-year world at its latest quarter, and at a quarter in the middle of its data."""

    def test_a_quarter_in_the_middle_renders(self, render):
        world, quarter = MIDDLE
        rendered = render(world, quarter, MIDDLE_LANG)
        folder = rendered.ok()
        assert folder.name == quarter and (folder / "index.html").is_file()
        missing = [p for p in PAGES.values() if not (folder / p).is_file()]
        assert not missing, f"pages missing: {missing}"
        run = rendered.run()
        assert run["quarter"] == quarter and run["data_until"] == "2024-06-30"
        # 10 quarters (2022Q1..2024Q2): cohorts by year and habituation (8) run, loyalty claims (17) not
        unavailable = rendered.unavailable()
        assert "history.cohorts" not in unavailable and "phases.habituation" not in unavailable
        assert re.search(quarters(10), unavailable["loyalty.claims"][0])
        check_notes(rendered)
        check_coverage(rendered)


# sections a page asks through a package function that takes the session
ASKED_IN_PACKAGE = {"churn.session_backtest": "churn.model", "churn.session_purchase": "churn.btyd"}


class TestTheMatrixItself:
    """Cheap checks that the tables above cover SHAPES and SECTIONS (no report rendered)."""

    def test_every_shape_is_rendered_once_and_has_an_expectation(self):
        shapes = [s for w in ALL_WORLDS for s in shapes_of(w)]
        assert sorted(shapes) == sorted(demo.SHAPES), "a SHAPES world is missing from WORLDS or doubled"
        assert set(EXPECTED) == set(demo.SHAPES)
        assert set(LANG.values()) == {"de", "en"}
        assert {c.__name__ for c in _Matrix.__subclasses__()} == set(WORLDS)
        for world in ALL_WORLDS:
            world_kwargs(world), expected(world)  # the shapes of a world agree
        for shape, sections in EXPECTED.items():
            assert set(sections) <= set(needs.SECTIONS), shape

    def test_sections_are_asked_on_their_page(self):
        import inspect

        from bestandlib import churn

        for func, key in ASKED_IN_PACKAGE.items():
            assert f's.section("{key}")' in inspect.getsource(getattr(churn, func.split(".")[1]))
        """Every section's note is looked for on the page whose notebook calls ``s.section(key)``."""
        calls: dict[str, set[str]] = {}
        for nb in pipeline.discover_notebooks():
            cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
            source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
            for key in re.findall(r's\.section\(\s*["\']([\w.]+)["\']', source):
                calls.setdefault(key, set()).add(nb.name[:2])
            # sections asked inside a package function the page calls (its source says s.section(key))
            for func, key in ASKED_IN_PACKAGE.items():
                if f"{func}(s)" in source:
                    calls.setdefault(key, set()).add(nb.name[:2])
        assert set(calls) == set(needs.SECTIONS), "a declared section is never asked for, or vice versa"
        for section, pages in calls.items():
            assert pages == {page_of(section)}, f"{section} is asked on page(s) {sorted(pages)}"
