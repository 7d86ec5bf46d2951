"""Train the toy churn model shipped with the apizr ``churn`` example.

The data is synthetic and fully deterministic (``numpy.random.RandomState``),
so running this script twice produces the same model. Usage::

    python train_churn.py            # writes churn_model.joblib next to this file

The notebook ``churn.ipynb`` only *loads* the artifact; this script is the
single place where the model is trained.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

CONTRACTS = ["month-to-month", "one-year", "two-year"]
NUMERIC = ["tenure_months", "monthly_charges", "support_calls_90d"]
CATEGORICAL = ["contract"]
FLAGS = ["has_support", "paperless_billing"]
FEATURES = NUMERIC + CATEGORICAL + FLAGS
TARGET = "churned"
SEED = 7
ARTIFACT = Path(__file__).resolve().parent / "churn_model.joblib"


def make_dataset(n_customers: int = 2000, seed: int = SEED) -> pd.DataFrame:
    """Generate a synthetic customer table with a ``churned`` label."""
    rng = np.random.RandomState(seed)
    contract = rng.choice(CONTRACTS, size=n_customers, p=[0.55, 0.25, 0.20])
    tenure = np.clip(rng.gamma(shape=2.0, scale=14.0, size=n_customers), 0, 120).astype(int)
    charges = np.round(rng.normal(loc=70.0, scale=25.0, size=n_customers).clip(15, 180), 2)
    has_support = rng.rand(n_customers) < 0.4
    paperless = rng.rand(n_customers) < 0.6
    calls = rng.poisson(lam=1.2, size=n_customers)

    logit = (
        -1.2
        + 1.5 * (contract == "month-to-month")
        - 0.6 * (contract == "two-year")
        - 0.035 * tenure
        + 0.018 * (charges - 70.0)
        - 0.7 * has_support
        + 0.30 * paperless
        + 0.45 * calls
    )
    churned = rng.rand(n_customers) < 1.0 / (1.0 + np.exp(-logit))

    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls_90d": calls,
            "contract": contract,
            "has_support": has_support,
            "paperless_billing": paperless,
            TARGET: churned,
        }
    )


def build_pipeline() -> Pipeline:
    """Preprocessing + logistic regression, fitted on a DataFrame of FEATURES."""
    preprocess = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            (
                "contract",
                OneHotEncoder(categories=[CONTRACTS], handle_unknown="ignore"),
                CATEGORICAL,
            ),
            ("flags", "passthrough", FLAGS),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("clf", LogisticRegression(max_iter=1000))])


def main() -> None:
    data = make_dataset()
    X_train, X_test, y_train, y_test = train_test_split(
        data[FEATURES], data[TARGET], test_size=0.25, random_state=SEED, stratify=data[TARGET]
    )
    pipeline = build_pipeline().fit(X_train, y_train)
    proba = pipeline.predict_proba(X_test)[:, 1]
    print(f"rows: {len(data)}  churn rate: {data[TARGET].mean():.3f}")
    print(f"test accuracy: {accuracy_score(y_test, proba >= 0.5):.3f}")
    print(f"test ROC AUC:  {roc_auc_score(y_test, proba):.3f}")

    # Refit on everything before shipping.
    pipeline.fit(data[FEATURES], data[TARGET])
    joblib.dump(pipeline, ARTIFACT, compress=3)
    print(f"wrote {ARTIFACT.name} ({ARTIFACT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
