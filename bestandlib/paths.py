"""Where things live, so notebooks and scripts never depend on the working directory."""
from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
DATA_DIR = PROJ_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
DEMO_DIR = RAW_DIR / "demo"
# Validated tables and panels, cached by input fingerprint (rebuilt from data/raw at any time).
INTERIM_DIR = Path(os.environ.get("BESTAND_CACHE", DATA_DIR / "interim"))
REPORTS_DIR = PROJ_ROOT / "reports"


def resolve_data_dir(data_dir) -> Path:
    """Find ``data_dir`` as given, else relative to the notebooks folder (a notebook's default
    ``../data/raw/demo`` works whether the kernel starts in ``notebooks/`` or in the project root)."""
    p = Path(data_dir).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    candidate = (NOTEBOOKS_DIR / p).resolve()
    if candidate.exists() or candidate == DEMO_DIR.resolve():
        return candidate
    return p.resolve()
