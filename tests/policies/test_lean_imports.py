"""The classifier's learner is imported without pandas (about 30 MB per worker)."""

from __future__ import annotations

import subprocess
import sys

TRAIN_THEN_IMPORT_PANDAS = """
import sys
from policies.classifier import UseCaseClassifier
classifier = UseCaseClassifier({"translation": ["translate this into English", "traduis en anglais"],
                                "code": ["write a Python function", "fix this SQL query"]})
print(classifier.predict("please translate this sentence into English").label)
print("pandas" in sys.modules)
import pandas
print(pandas.DataFrame({"a": [1]}).shape)
"""


def test_training_the_classifier_leaves_pandas_unimported_and_importable():
    done = subprocess.run([sys.executable, "-c", TRAIN_THEN_IMPORT_PANDAS], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split("\n")[:3] == ["translation", "False", "(1, 1)"]
