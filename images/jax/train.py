"""CPU training smoke test for the kind-pipeline JAX image.

Fits a small MLP (8 -> 32 -> 1, tanh) to a fixed synthetic regression problem
with full-batch gradient descent (jax.grad + jax.jit). Everything is seeded, so
a run is deterministic and takes a few seconds on one CPU.

Prints progress lines and exactly one machine-readable result line:

    KIND_PIPELINE_RESULT framework=jax version=<v> steps=<n> loss_before=<f> loss_after=<f> status=<improved|not-improved>

Exit status: 0 if loss_after < 0.9 * loss_before, 1 if not, 2 on bad config.
Env: TRAIN_STEPS (default 50) sets the number of gradient steps.
"""

import os
import sys
import time

# CPU only: never probe for GPU/TPU backends (the image ships no such plugin).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

FRAMEWORK = "jax"
DEFAULT_STEPS = 50
MAX_STEPS = 10_000
IMPROVEMENT_FACTOR = 0.9  # loss_after must be below 90% of loss_before
SEED = 0
N_SAMPLES, N_FEATURES, HIDDEN = 512, 8, 32
LEARNING_RATE = 0.05


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


def make_data(key):
    kx, kw, kn = jax.random.split(key, 3)
    x = jax.random.normal(kx, (N_SAMPLES, N_FEATURES))
    w_true = jax.random.normal(kw, (N_FEATURES,))
    noise = 0.05 * jax.random.normal(kn, (N_SAMPLES,))
    # Mostly linear target with a small non-linear term the MLP can pick up.
    y = x @ w_true + 0.5 * jnp.sin(2.0 * x[:, 0]) + noise
    return x, y


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (N_FEATURES, HIDDEN)) / jnp.sqrt(N_FEATURES),
        "b1": jnp.zeros((HIDDEN,)),
        "w2": jax.random.normal(k2, (HIDDEN,)) / jnp.sqrt(HIDDEN),
        "b2": jnp.zeros(()),
    }


def predict(params, x):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"] + params["b2"]


def mse(params, x, y):
    return jnp.mean((predict(params, x) - y) ** 2)


@jax.jit
def train_step(params, x, y):
    grads = jax.grad(mse)(params, x, y)
    new_params = jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)
    return new_params, mse(new_params, x, y)


def main():
    steps = read_steps()
    started = time.monotonic()
    print(f"{FRAMEWORK} {jax.__version__} devices={jax.devices()} steps={steps}")

    data_key, init_key = jax.random.split(jax.random.PRNGKey(SEED))
    x, y = make_data(data_key)
    params = init_params(init_key)

    loss_before = float(mse(params, x, y))
    print(f"step 0/{steps} loss={loss_before:.6f}")

    log_every = max(1, steps // 5)
    for step in range(1, steps + 1):
        params, loss = train_step(params, x, y)  # loss after this step's update
        if step % log_every == 0 or step == steps:
            print(f"step {step}/{steps} loss={float(loss):.6f}")

    loss_after = float(mse(params, x, y))
    improved = loss_after < loss_before * IMPROVEMENT_FACTOR  # False for NaN as well
    status = "improved" if improved else "not-improved"
    print(f"done in {time.monotonic() - started:.1f}s")
    print(
        f"KIND_PIPELINE_RESULT framework={FRAMEWORK} version={jax.__version__} steps={steps} "
        f"loss_before={loss_before:.6f} loss_after={loss_after:.6f} status={status}"
    )
    return 0 if improved else 1


if __name__ == "__main__":
    sys.exit(main())
