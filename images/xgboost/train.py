"""CPU training smoke test for the kind-pipeline XGBoost image.

Boosts shallow regression trees (hist, depth 3) on a fixed synthetic data set.
The baseline ("round 0") is the model before any tree is added: base_score is
pinned to the label mean, so it predicts that constant. The run is seeded and
single-threaded, hence deterministic, and takes well under a second.

Both losses are the mean squared error on the training set (the progress lines
printed by XGBoost show its square root, train-rmse).

Prints progress lines and exactly one machine-readable result line:

    KIND_PIPELINE_RESULT framework=xgboost version=<v> steps=<n> loss_before=<f> loss_after=<f> status=<improved|not-improved>

Exit status: 0 if loss_after < 0.9 * loss_before, 1 if not, 2 on bad config.
Env: TRAIN_STEPS (default 30) sets the number of boosting rounds.
"""

import os
import sys
import time

import numpy as np
import xgboost as xgb

FRAMEWORK = "xgboost"
DEFAULT_STEPS = 30
MAX_STEPS = 10_000
IMPROVEMENT_FACTOR = 0.9  # loss_after must be below 90% of loss_before
SEED = 0
N_SAMPLES, N_FEATURES = 1000, 10


def read_steps():
    raw = os.environ.get("TRAIN_STEPS", "").strip()
    if not raw:
        return DEFAULT_STEPS
    try:
        steps = int(raw)
    except ValueError:
        steps = -1
    if not 1 <= steps <= MAX_STEPS:
        print(f"error: TRAIN_STEPS must be an integer in [1, {MAX_STEPS}], got {raw!r}", file=sys.stderr)
        sys.exit(2)
    return steps


def make_data(rng):
    x = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype(np.float32)
    x64 = x.astype(np.float64)
    # Linear part, an interaction and a non-linearity; features 5..9 are noise.
    y = (
        2.0 * x64[:, 0]
        - 1.0 * x64[:, 1]
        + 0.5 * x64[:, 2] * x64[:, 3]
        + np.sin(3.0 * x64[:, 4])
        + 0.1 * rng.normal(size=N_SAMPLES)
    )
    return x, y


def mse(pred, y):
    return float(np.mean((np.asarray(pred, dtype=np.float64) - y) ** 2))


def main():
    steps = read_steps()
    started = time.monotonic()
    print(f"{FRAMEWORK} {xgb.__version__} numpy {np.__version__} device=cpu nthread=1 rounds={steps}")

    x, y = make_data(np.random.default_rng(SEED))
    dtrain = xgb.DMatrix(x, label=y)

    base_score = float(np.mean(y))
    params = {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "device": "cpu",
        "max_depth": 3,
        "eta": 0.3,
        "base_score": base_score,
        "eval_metric": "rmse",
        "nthread": 1,
        "seed": SEED,
    }

    loss_before = mse(np.full_like(y, base_score), y)
    print(f"round 0 (baseline) mse={loss_before:.6f}")

    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=steps,
        evals=[(dtrain, "train")],
        verbose_eval=max(1, steps // 5),
    )
    loss_after = mse(booster.predict(dtrain), y)

    improved = loss_after < loss_before * IMPROVEMENT_FACTOR  # False for NaN as well
    status = "improved" if improved else "not-improved"
    print(f"done in {time.monotonic() - started:.1f}s")
    print(
        f"KIND_PIPELINE_RESULT framework={FRAMEWORK} version={xgb.__version__} steps={steps} "
        f"loss_before={loss_before:.6f} loss_after={loss_after:.6f} status={status}"
    )
    return 0 if improved else 1


if __name__ == "__main__":
    sys.exit(main())
