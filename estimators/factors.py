"""The versioned Sobria factor set (`data/sobria-factors-*.yaml`), loaded once.

Every number the estimators use that does not come from the pinned `ecologits`
package lives in that file, so a change of factor is a change of version.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

FACTOR_FILE = Path(__file__).with_name("data") / "sobria-factors-2026.1.yaml"


@lru_cache(maxsize=1)
def factor_set() -> dict[str, Any]:
    """The parsed factor file (read once per process)."""
    return yaml.safe_load(FACTOR_FILE.read_text(encoding="utf-8"))


def factor_set_version() -> str:
    return str(factor_set()["version"])
