"""scikit-learn without pandas: the classifier's learner, imported lean.

scikit-learn imports pandas at start-up when it is installed (`sklearn.utils.fixes`), only
to recognise DataFrames, which the classifier never passes. pandas is installed for
codecarbon's measured mode, and importing it costs each gateway worker about 30 MB of
resident memory (269 -> 238 MB idle after start-up, measured), memory that thousands of
open streams need. So scikit-learn is imported with pandas hidden, unless pandas is
already imported (then there is nothing to save); pandas stays importable afterwards.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression


def logistic_regression() -> type[LogisticRegression]:
    """scikit-learn's `LogisticRegression`, imported without pulling pandas in."""
    hidden = "pandas" not in sys.modules
    if hidden:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    try:
        from sklearn.linear_model import LogisticRegression
    finally:
        if hidden:
            del sys.modules["pandas"]
    return LogisticRegression
