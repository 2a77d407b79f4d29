"""The demo's model: tree ensembles trained on scikit-learn's diabetes dataset.

The dataset (`sklearn.datasets.load_diabetes(scaled=False)`, 442 patients, shipped
inside scikit-learn) has ten baseline measurements and a numeric target, disease
progression one year later. Regression gives an honest expected-versus-actual pair
for drift: expected is the patient's true target and actual is the prediction, so the
drift dimension measures relative prediction error. `sex` (1 or 2) is categorical and
the other nine features are numerical.

A regressor has no class probability, so confidence comes from the ensemble itself:
the share of trees whose prediction lies within 15% of the ensemble mean. It is high
where the trees agree and low where they scatter.

Version v1 is a RandomForestRegressor. Version v2 is an ExtraTreesRegressor with an
extra age-band feature. Its band table ends at age 65, so it raises ValueError for
older patients (about 8% of the held-out patients), which makes it the demo's source
of model prediction errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.model_selection import train_test_split

MODEL_NAME = "diabetes-progression"
FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
CATEGORICAL_FEATURES = frozenset({"sex"})
VERSIONS = ("v1", "v2")

AGREEMENT_TOLERANCE = 0.15
"""Relative distance from the ensemble mean within which a tree counts as agreeing."""

AGE_BAND_EDGES = (25.0, 35.0, 45.0, 55.0, 65.0)
"""Upper edges of v2's age bands, in years; ages above the last edge have no band."""

_TEST_SHARE = 0.3


@dataclass(frozen=True)
class Dataset:
    """Feature rows and targets, with the columns in `FEATURES` order.

    Attributes:
        features: Array of shape (rows, 10), in the dataset's raw units.
        targets: Disease progression one year after baseline.
    """

    features: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class Predictions:
    """The result of one batch prediction.

    Attributes:
        values: Predicted targets; NaN for rows listed in `errors`.
        confidences: Tree agreement in [0, 1]; NaN for rows listed in `errors`.
        errors: Row index to the exception that row raised.
    """

    values: np.ndarray
    confidences: np.ndarray
    errors: dict[int, Exception] = field(default_factory=dict)


def load_dataset() -> tuple[Dataset, Dataset]:
    """Load the diabetes dataset and split it into training and held-out rows.

    The split is fixed (random_state=0), so every seed serves the same patients.

    Returns:
        The training rows and the held-out rows that the simulated traffic uses.
    """
    bunch = load_diabetes(scaled=False)
    if tuple(bunch.feature_names) != FEATURES:
        raise RuntimeError(
            f"load_diabetes returned the columns {bunch.feature_names}, "
            f"expected {list(FEATURES)}"
        )

    x_train, x_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=_TEST_SHARE, random_state=0
    )
    return Dataset(x_train, y_train), Dataset(x_test, y_test)


class ForestModel:
    """A tree ensemble that predicts in batches and reports tree agreement.

    Args:
        version: The model version, "v1" or "v2".
        forest: A fitted RandomForestRegressor or ExtraTreesRegressor.
    """

    def __init__(self, version: str, forest: RandomForestRegressor):
        self.name = MODEL_NAME
        self.version = version
        self.forest = forest

    def predict(self, features: np.ndarray) -> Predictions:
        """Predict a batch of rows in `FEATURES` order.

        Args:
            features: Array of shape (rows, 10), already validated.

        Returns:
            The predictions, the confidences and the rows that failed.
        """
        values = np.full(len(features), np.nan)
        confidences = np.full(len(features), np.nan)
        errors = self._row_errors(features)
        good = np.ones(len(features), dtype=bool)
        good[list(errors)] = False
        if good.any():
            values[good], confidences[good] = self._predict_rows(features[good])

        return Predictions(values, confidences, errors)

    def _row_errors(self, features: np.ndarray) -> dict[int, Exception]:
        return {}

    def _inputs(self, features: np.ndarray) -> np.ndarray:
        return features

    def _predict_rows(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Each tree runs once, rather than forest.predict plus a second pass for the
        # spread. With check_input=False a tree needs float32 input, the dtype that
        # DecisionTreeRegressor.predict converts to.
        inputs = np.ascontiguousarray(self._inputs(features), dtype=np.float32)
        per_tree = np.stack(
            [
                tree.predict(inputs, check_input=False)
                for tree in self.forest.estimators_
            ]
        )
        mean = per_tree.mean(axis=0)
        agreeing = np.abs(per_tree - mean) <= AGREEMENT_TOLERANCE * np.abs(mean)

        return mean, agreeing.mean(axis=0)


class AgeBandedForest(ForestModel):
    """v2: the features plus an age-band index, with no band above age 65."""

    def _row_errors(self, features: np.ndarray) -> dict[int, Exception]:
        ages = features[:, FEATURES.index("age")]
        too_old = np.flatnonzero(ages > AGE_BAND_EDGES[-1])

        return {
            int(row): ValueError(
                f"age {ages[row]:.1f} is above the last age band "
                f"(<= {AGE_BAND_EDGES[-1]:.0f} years)"
            )
            for row in too_old
        }

    def _inputs(self, features: np.ndarray) -> np.ndarray:
        return with_age_band(features)


def with_age_band(features: np.ndarray) -> np.ndarray:
    """Append the age-band index column that v2 reads; ages must be <= 65."""
    ages = features[:, FEATURES.index("age")]
    bands = np.searchsorted(AGE_BAND_EDGES, ages, side="left")

    return np.column_stack([features, bands])


def train_models(train: Dataset, seed: int) -> dict[str, ForestModel]:
    """Train v1 and v2 on the same training rows.

    Args:
        train: The training rows.
        seed: The forests' random_state.

    Returns:
        The models by version.
    """
    v1 = RandomForestRegressor(
        n_estimators=40, max_depth=6, min_samples_leaf=4, random_state=seed
    )
    v1.fit(train.features, train.targets)

    # v2's band pipeline raises above age 65, so its training rows stop there too.
    banded = train.features[:, FEATURES.index("age")] <= AGE_BAND_EDGES[-1]
    v2 = ExtraTreesRegressor(
        n_estimators=40, max_depth=8, min_samples_leaf=3, random_state=seed
    )
    v2.fit(with_age_band(train.features[banded]), train.targets[banded])

    return {"v1": ForestModel("v1", v1), "v2": AgeBandedForest("v2", v2)}
