"""CPU training smoke test for the kind-pipeline PyTorch image.

Fits a small MLP (nn.Linear 8 -> 32 -> 1, tanh) to a fixed synthetic regression
problem with full-batch Adam. Seeds are fixed, deterministic algorithms are
enforced and one intra-op thread is used, so a run is reproducible and takes a
few seconds on one CPU.

Prints progress lines and exactly one machine-readable result line:

    KIND_PIPELINE_RESULT framework=pytorch version=<v> steps=<n> loss_before=<f> loss_after=<f> status=<improved|not-improved>

Exit status: 0 if loss_after < 0.9 * loss_before, 1 if not, 2 on bad config.
Env: TRAIN_STEPS (default 50) sets the number of optimizer steps.
"""

import os
import sys
import time
import warnings

# numpy is intentionally not installed in the image; torch warns about it on import.
warnings.filterwarnings("ignore", message=".*Failed to initialize NumPy.*")

import torch  # noqa: E402
from torch import nn  # noqa: E402

FRAMEWORK = "pytorch"
DEFAULT_STEPS = 50
MAX_STEPS = 10_000
IMPROVEMENT_FACTOR = 0.9  # loss_after must be below 90% of loss_before
SEED = 0
N_SAMPLES, N_FEATURES, HIDDEN = 512, 8, 32
LEARNING_RATE = 0.02


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


def make_data(generator):
    x = torch.randn(N_SAMPLES, N_FEATURES, generator=generator)
    w_true = torch.randn(N_FEATURES, 1, generator=generator)
    noise = 0.05 * torch.randn(N_SAMPLES, 1, generator=generator)
    # Mostly linear target with a small non-linear term the MLP can pick up.
    y = x @ w_true + 0.5 * torch.sin(2.0 * x[:, :1]) + noise
    return x, y


def main():
    steps = read_steps()
    started = time.monotonic()

    torch.manual_seed(SEED)  # also seeds the nn.Linear initialisation below
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"{FRAMEWORK} {torch.__version__} device=cpu threads={torch.get_num_threads()} steps={steps}")

    x, y = make_data(torch.Generator().manual_seed(SEED))
    model = nn.Sequential(nn.Linear(N_FEATURES, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 1))
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    with torch.no_grad():
        loss_before = loss_fn(model(x), y).item()
    print(f"step 0/{steps} loss={loss_before:.6f}")

    log_every = max(1, steps // 5)
    model.train()
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps:
            with torch.no_grad():
                current = loss_fn(model(x), y).item()  # loss after this step's update
            print(f"step {step}/{steps} loss={current:.6f}")

    model.eval()
    with torch.no_grad():
        loss_after = loss_fn(model(x), y).item()

    improved = loss_after < loss_before * IMPROVEMENT_FACTOR  # False for NaN as well
    status = "improved" if improved else "not-improved"
    print(f"done in {time.monotonic() - started:.1f}s")
    print(
        f"KIND_PIPELINE_RESULT framework={FRAMEWORK} version={torch.__version__} steps={steps} "
        f"loss_before={loss_before:.6f} loss_after={loss_after:.6f} status={status}"
    )
    return 0 if improved else 1


if __name__ == "__main__":
    sys.exit(main())
