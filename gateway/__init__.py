"""Sobria gateway: the HTTP layer, request pipeline, ledger, budgets and CLI.

litellm would fetch its model price map from the internet at import time; Sobria runs
on intranets and uses its own catalogue prices, so the bundled copy is used instead.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
