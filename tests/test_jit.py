"""Compiled kernels are compiled (or loaded) before any timed region, never inside one."""

import subprocess
import sys
import textwrap

import pytest

from qnewton._jit import kernels, warm_up

STEP = textwrap.dedent(
    """
    import torch, warnings
    from torch import nn
    from qnewton._jit import kernels, warm_up
    from qnewton.data import load_image_dataset
    from qnewton.models import paper_dnn
    from qnewton.optim import QNewton

    warm_up(verbose=False)
    before = {k.__name__: len(k.signatures) for k in kernels()}
    data = load_image_dataset("digits", seed=0)
    x, y = data.tensors("train")
    for dtype in (torch.float32, torch.float64):
        model = paper_dnn(input_dim=64, seed=0).to(dtype)
        opt = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), eps=0.05,
                      policy="quantum", sparsity=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.step(batch=(x[:128].to(dtype), y[:128]))
    after = {k.__name__: len(k.signatures) for k in kernels()}
    grown = {k: (before[k], after[k]) for k in after if after[k] != before[k]}
    print("GROWN", grown)
    """
)


def test_warm_up_covers_every_signature_a_quantum_step_uses():
    """After warm_up, a quantum-route step (pruning, sparsity profile, kappa) specializes no kernel
    anew: nothing is compiled (or loaded from the cache) inside the step's timed pre-processing."""
    out = subprocess.run([sys.executable, "-c", STEP], capture_output=True, text=True, check=True)
    assert "GROWN {}" in out.stdout, out.stdout + out.stderr


def test_warm_up_is_idempotent_and_finds_the_kernels():
    warm_up(verbose=False)
    assert warm_up(verbose=False) == 0.0
    names = {k.__name__ for k in kernels()}
    assert {"sure_pass", "greedy_band", "row_mass_counts", "scan_symmetric"} <= names


@pytest.mark.slow
def test_first_run_says_it_compiles(tmp_path):
    import os

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", "from qnewton._jit import warm_up; warm_up()"], capture_output=True, text=True, env=env
    )
    assert "compiling the numba kernels" in out.stderr
