"""``qnewton convergence``: the experiment's bookkeeping (target, steps to target, reduction),
its files, resuming an interrupted run to the same numbers, the CLI, and the GPT-2 builder."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")

from qnewton.curvature import LossProblem
from qnewton.curvature.blocks import make_blocks
from qnewton.curvature.kfac import kfac_sites
from qnewton.experiments import convergence as C
from qnewton.experiments import training
from qnewton.models import LMLogits, TokenCrossEntropy, forward_loss, make_bert, make_gpt2

pytestmark = [pytest.mark.nlp, pytest.mark.usefixtures("one_thread")]


def read(path):
    return json.loads((path / "results.json").read_text())


def test_quick_run_reports_steps_to_sgds_last_loss(tmp_path):
    cfg = C.quick_config(arms=("SGD", "AdamW", "Newton-KFAC"), steps=2, eval_every=1, stop_at_target=False)
    out = C.run_convergence(cfg, tmp_path / "run", progress=False)
    for name in ("results.json", "convergence.csv", "curves.csv", "convergence.png", "report.md"):
        assert (out / name).exists(), name
    res = read(out)
    arms = res["arms"]["0"]
    sgd_curve = [e["train_loss"] for e in arms["SGD"]["evals"]]
    assert [e["step"] for e in arms["SGD"]["evals"]] == [0, 1, 2]
    assert res["targets"]["0"] == sgd_curve[-1]  # SGD's training loss at its last step
    rows = {r["arm"]: r for r in res["table"]}
    sgd_steps = rows["SGD"]["steps_to_target"]
    assert sgd_steps == next(e["step"] for e in arms["SGD"]["evals"] if e["train_loss"] <= sgd_curve[-1])
    for arm, r in rows.items():
        curve = arms[arm]["evals"]
        hit = next((e["step"] for e in curve if e["train_loss"] <= res["targets"]["0"]), None)
        assert r["steps_to_target"] == hit
        assert r["reduction_vs_sgd"] == (None if hit is None else pytest.approx(1 - hit / sgd_steps))
    assert set(rows["Newton-KFAC"]["routes"]) == {"kron-eig", "first-order"}
    assert "66 %" in (out / "report.md").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"


def test_an_interrupted_newton_arm_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    cfg = C.quick_config(arms=("SGD", "Newton-KFAC"), steps=8, stop_at_target=False, kfac_update_interval=3)
    full = read(C.run_convergence(cfg, tmp_path / "full", progress=False))
    real = training._one_step
    calls = {"n": 0}

    def flaky(spec, *a, **k):
        if spec.optimizer == "newton":
            calls["n"] += 1
            if calls["n"] == 7:  # after the checkpoint at step 5
                raise KeyboardInterrupt
        return real(spec, *a, **k)

    monkeypatch.setattr(training, "_one_step", flaky)
    with pytest.raises(KeyboardInterrupt):
        C.run_convergence(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(training, "_one_step", real)
    resumed = read(C.run_convergence(cfg, tmp_path / "cut", progress=False))
    a = [e["train_loss"] for e in full["arms"]["0"]["Newton-KFAC"]["evals"]]
    b = [e["train_loss"] for e in resumed["arms"]["0"]["Newton-KFAC"]["evals"]]
    assert a == b  # the K-FAC factors, their counters and the sampling generator were checkpointed


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bert", "gpt"])
def test_every_arm_runs_on_each_model(tmp_path, model):
    cfg = C.quick_config(model, steps=2, eval_every=1, stop_at_target=False)
    res = read(C.run_convergence(cfg, tmp_path / model, progress=False))
    rows = {r["arm"]: r for r in res["table"]}
    assert set(rows) == set(C.ARMS)
    assert set(rows["Newton-GGN"]["routes"]) == {"cg"}
    for r in rows.values():
        assert r["steps_run"] == 2 and r["final_train_loss"] == r["final_train_loss"]


def test_cli_quick(tmp_path, capsys):
    from qnewton.cli import main

    out = tmp_path / "cli"
    rc = main(
        [
            "convergence",
            "--quick",
            "--model",
            "mistral",
            "--arms",
            "SGD",
            "Newton-KFAC",
            "--steps",
            "2",
            "--eval-every",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0 and "report:" in capsys.readouterr().out
    cfg = read(out)["config"]
    assert cfg["model"] == "mistral" and cfg["steps"] == 2 and cfg["hidden_size"] == 16  # --quick + overrides


def test_cli_help_shows_every_default(capsys):
    from qnewton.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["convergence", "--help"])
    text = capsys.readouterr().out
    for f in ("--kfac-eps", "--seeds", "--stop-at-target", "--quick"):
        assert f in text
    assert text.count("(default") >= len(C.ConvergenceConfig.__dataclass_fields__)


def test_config_is_validated():
    with pytest.raises(Exception, match="arms"):
        C.ConvergenceConfig(arms=("Newton-LBFGS",))
    with pytest.raises(Exception, match="uncovered"):
        C.ConvergenceConfig(kfac_uncovered="nothing")
    assert C.reduction(34, 100) == pytest.approx(0.66) and C.reduction(None, 100) is None


def test_gpt2_is_covered_by_kfac_and_token_cross_entropy_is_the_models_own_loss():
    gpt = make_gpt2()
    assert sum(p.numel() for p in gpt.parameters()) == 224_960
    ids = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    wrapped = LMLogits(gpt)
    ours = TokenCrossEntropy(shift=True)(wrapped(ids, torch.ones_like(ids)), ids)
    torch.testing.assert_close(ours, forward_loss(gpt, batch))
    problem = LossProblem(wrapped, TokenCrossEntropy(shift=True))
    sites, why = kfac_sites(problem, make_blocks(problem, "module"))
    assert len(sites) == 16 and all(s.layout == "in-out" for s in sites.values())  # Conv1D: (in, out)
    assert "Embedding" in why["model.transformer.wte"] and "LayerNorm" in why["model.transformer.ln_f"]
    bert = make_bert(num_hidden_layers=1)
    lab = ids.clone()
    lab[:, ::3] = -100
    mlm = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": lab}
    torch.testing.assert_close(TokenCrossEntropy(shift=False)(LMLogits(bert)(ids), lab), forward_loss(bert, mlm))


def test_kfac_arm_keeps_kfac_blocks_on_the_exact_route_whatever_covers_the_rest(tmp_path):
    cfg = C.quick_config(arms=("SGD", "Newton-KFAC"), steps=1, kfac_uncovered="ggn", stop_at_target=False)
    res = read(C.run_convergence(cfg, tmp_path / "k", progress=False))
    steps = res["arms"]["0"]["Newton-KFAC"]["steps"]
    assert steps[0]["route_counts"] == {"kron-eig": 4, "cg": 5}  # c_attn, c_proj, c_fc, mlp.c_proj; wte, wpe, 3 norms
