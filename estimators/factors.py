"""The versioned Sobria factor sets (`data/sobria-factors-*.yaml`).

Every number the estimators use that does not come from the pinned `ecologits`
package lives in a factor-set file, so a change of factor is a change of version.
Released files are kept in the package: stored figures can be restated under any
set of the current schema (`sobria impacts restate --factor-set V`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).with_name("data")
CURRENT_VERSION = "sobria-factors-2026.2"
SCHEMA = 2


class UnknownFactorSet(LookupError):
    """No factor-set file of that version, or one written for another method."""


def available_versions(directory: Path = DATA_DIR) -> list[str]:
    """Every factor-set version kept in `directory`, oldest first."""
    return sorted(p.stem for p in directory.glob("sobria-factors-*.yaml"))


@lru_cache(maxsize=16)
def load_factor_set(version: str = CURRENT_VERSION, directory: Path = DATA_DIR) -> dict[str, Any]:
    """The parsed factor set `version` (read once per process); refuses another schema."""
    path = directory / f"{version}.yaml"
    if not path.is_file():
        raise UnknownFactorSet(f"no factor set {version!r} in {directory} (kept: {', '.join(available_versions(directory))})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data.get("version") != version:
        raise UnknownFactorSet(f"{path.name} declares version {data.get('version')!r}, not {version!r}")
    if data.get("schema") != SCHEMA:
        raise UnknownFactorSet(
            f"factor set {version!r} was written for an earlier method (schema {data.get('schema', 1)}); "
            f"the current method reads schema {SCHEMA}"
        )
    return data


def factor_set() -> dict[str, Any]:
    """The current factor set."""
    return load_factor_set(CURRENT_VERSION)


def factor_set_version() -> str:
    return CURRENT_VERSION
