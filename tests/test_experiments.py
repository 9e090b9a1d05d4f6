"""Every experiment at a tiny size: the files, their fields, resumption and the CLI."""

import json
from dataclasses import replace

import pytest

from qnewton.errors import CheckpointError
from qnewton.experiments import ArmSpec, CostSettings, RunDir, run_arm
from qnewton.experiments._common import image_setup
from qnewton.experiments.reproduce import EXPERIMENTS, full_configs, quick_configs, run_reproduce

COSTS = CostSettings(classical_c=1e-11)


def tiny_configs():
    q = quick_configs("digits", COSTS)
    full = full_configs(COSTS)
    return {
        "table2": replace(q["table2"], sizes=(10, 100), repeats=1, warmup_steps=2),
        "table3": replace(q["table3"], sgd_arm_steps=6, warmup_steps=2, newton_steps=2, eval_every=2),
        "table4": replace(
            full["table4"],
            hidden_size=16,
            num_layers=1,
            block_size=32,
            batch_size=8,
            curvature_batch_size=8,
            n_train_blocks=32,
            n_eval_blocks=4,
            sgd_arm_steps=4,
            warmup_steps=1,
            newton_steps=2,
            eval_every=2,
            max_block_size=1024,
        ),
        "profile": replace(q["profile"], steps=(0, 2)),
        "regularization": replace(q["regularization"], eps_values=(0.1, 1.0), warmup_steps=2, newton_steps=1),
        "sparsity": replace(q["sparsity"], ratios=(1.0, 0.2), warmup_steps=2, newton_steps=1),
        "routes": replace(q["routes"], warmup_steps=1, newton_steps=2),
        "carleman-cost": q["carleman-cost"],  # the registry reaches the Carleman studies too
    }


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    run_reproduce(tiny_configs(), out, progress=False)
    return out


EXPECTED = {
    "table2": ["table2.csv", "table2.png", "results.json", "report.md"],
    "table3": ["table3.csv", "curves.csv", "steps.csv", "table3.png", "results.json", "report.md"],
    "table4": ["table4.csv", "curves.csv", "table4.png", "results.json", "report.md"],
    "profile": ["profile_summary.csv", "profile_rows.csv", "profile.png", "results.json", "report.md"],
    "regularization": ["regularization.csv", "regularization.png", "results.json", "report.md"],
    "sparsity": ["oracle_sparsity.csv", "oracle_sparsity.png", "results.json", "report.md"],
    "routes": ["routes.csv", "decisions.csv", "routes.png", "results.json", "report.md"],
    "carleman-cost": ["cost.csv", "carleman_cost.png", "results.json", "report.md"],
}


def test_every_subcommand_study_is_in_reproduce():
    # the index covers every study command; the quick set runs all but the ones it lists as skipped
    from qnewton.experiments.reproduce import QUICK_SKIPS

    assert set(quick_configs()) | set(QUICK_SKIPS) == set(EXPERIMENTS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_files_and_manifest(reproduced, name):
    folder = reproduced / name
    for f in EXPECTED[name]:
        assert (folder / f).is_file() and (folder / f).stat().st_size > 0, f
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["experiment"] == name
    env = manifest["environment"]
    assert env["torch"] and env["cpu"] and "command" in env
    assert not (folder / "checkpoint.pt").exists()
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    report = (folder / "report.md").read_text()
    assert "Command:" in report and "Machine:" in report


def test_table3_fields(reproduced):
    res = json.loads((reproduced / "table3" / "results.json").read_text())
    assert set(res["arms"]) == {"SGD", "Classical-only", "Best-classical", "Quantum-only", "Q-Newton"}
    table = {r["method"]: r for r in res["table"]}
    assert table["Classical-only"]["routes_quantum"] == 0 and table["Quantum-only"]["routes_classical"] == 0
    assert (
        table["Classical-only"]["routes_taken"].startswith("cholesky")
        and "qlsa" not in table["Best-classical"]["routes_taken"]
    )
    assert table["Quantum-only"]["quantum_modeled_s_total"] > 0
    for arm in res["arms"].values():
        for s in arm["steps"]:
            assert s["wall_s"] > 0 and s["model_time_s"] >= 0
            if s["phase"] == "newton":  # the ledger adds up: model = wall - emulation + modeled
                assert s["model_time_s"] == pytest.approx(s["wall_s"] - s["emulation_s"] + s["quantum_modeled_s"])
    report = (reproduced / "table3" / "report.md").read_text()
    assert "measured" in report and "modeled" in report and "paper" in report


def test_table2_and_routes_fields(reproduced):
    rows = json.loads((reproduced / "table2" / "results.json").read_text())["rows"]
    assert {r["method"] for r in rows} >= {"lanczos", "merikoski", "gershgorin", "exact"}
    exact = [r for r in rows if r["method"] == "exact"]
    assert all(abs(r["log_ratio_to_exact"]) < 1e-6 for r in exact)
    assert all(r["log_ratio_to_exact"] >= -1e-9 for r in rows if r.get("upper_bound"))
    per_step = json.loads((reproduced / "routes" / "results.json").read_text())["per_step"]
    assert per_step and all(p["classical_cost_s"] > 0 and p["quantum_cost_s"] > 0 for p in per_step)


def test_index_report(reproduced):
    index = (reproduced / "report.md").read_text()
    for name in EXPECTED:
        assert f"{name}/report.md" in index


def test_arm_resumes_bit_identically(tmp_path):
    setup, _ = image_setup("digits", None, 200, 100, (8,), 0)
    spec = ArmSpec(
        "Q-Newton", "newton", policy="hybrid", lr=0.5, eps=1.0, sgd_steps=2, sgd_lr=0.1, quantum_solver="emulated-noisy"
    )
    full = run_arm(
        spec,
        setup,
        COSTS,
        steps=7,
        batch_size=32,
        run=RunDir(tmp_path / "a", "t", {}),
        checkpoint={},
        eval_every=2,
        checkpoint_every=2,
        progress=False,
    )

    calls = {"n": 0}
    real_eval = setup.evaluate

    def flaky(model):
        calls["n"] += 1
        if calls["n"] == 3:  # evaluations at steps 0 and 2 pass; the one at step 4 is "interrupted"
            raise KeyboardInterrupt
        return real_eval(model)

    run = RunDir(tmp_path / "b", "t", {})
    ckpt: dict = {}
    with pytest.raises(KeyboardInterrupt):
        run_arm(
            spec,
            replace(setup, evaluate=flaky),
            COSTS,
            steps=7,
            batch_size=32,
            run=run,
            checkpoint=ckpt,
            eval_every=2,
            checkpoint_every=2,
            progress=False,
        )
    saved = run.load_checkpoint()
    assert saved is not None and 0 < len(saved["arms"]["Q-Newton"]["result"]["steps"]) < 7
    resumed = run_arm(
        spec,
        setup,
        COSTS,
        steps=7,
        batch_size=32,
        run=run,
        checkpoint=saved,
        eval_every=2,
        checkpoint_every=2,
        progress=False,
    )
    assert [s["loss"] for s in resumed.steps] == [s["loss"] for s in full.steps]
    assert [e["test_accuracy"] for e in resumed.evals if e["step"] >= 4] == [
        e["test_accuracy"] for e in full.evals if e["step"] >= 4
    ]


@pytest.mark.parametrize("budget, steps_run", [(None, 5), (1e-9, 1)])
def test_arm_stops_at_its_time_budget(tmp_path, budget, steps_run):
    # a budget below one step's measured time stops the arm after its first step, evaluated there
    setup, _ = image_setup("digits", None, 200, 100, (8,), 0)
    spec = ArmSpec("Best-classical", "newton", policy="classical", lr=0.5, eps=1.0, sgd_steps=0)
    res = run_arm(
        spec,
        setup,
        COSTS,
        steps=5,
        batch_size=32,
        run=RunDir(tmp_path / "a", "t", {}),
        checkpoint={},
        eval_every=10,
        progress=False,
        time_budget_s=budget,
    )
    assert len(res.steps) == steps_run and res.complete
    assert res.stopped_at_budget is (budget is not None)
    assert res.evals[-1]["step"] == steps_run
    again = type(res).from_dict(res.to_dict())
    assert again.stopped_at_budget is res.stopped_at_budget


def test_rundir_refuses_other_settings(tmp_path):
    RunDir(tmp_path, "table3", {"a": 1})
    with pytest.raises(CheckpointError, match="--fresh"):
        RunDir(tmp_path, "table3", {"a": 2})
    RunDir(tmp_path, "table3", {"a": 2}, fresh=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        RunDir(tmp_path, "table3", {"a": 2}).load_checkpoint()


def test_cli_table3_quick(tmp_path, capsys):
    from qnewton.cli import main

    rc = main(
        [
            "table3",
            "--dataset",
            "digits",
            "--sgd-arm-steps",
            "4",
            "--warmup-steps",
            "1",
            "--newton-steps",
            "1",
            "--eval-every",
            "1",
            "--classical-c",
            "1e-11",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert rc == 0 and (tmp_path / "report.md").exists()
    assert str(tmp_path / "report.md") in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/x/qnewton/__main__.py", "table3", "--out", "a b"], "python -m qnewton table3 --out 'a b'"),
        (["/usr/bin/qnewton", "costs"], "qnewton costs"),
        (["my script.py", "x"], "'my script.py' x"),
    ],
)
def test_recorded_command_is_runnable(monkeypatch, argv, expected):
    from qnewton.experiments._run import environment

    monkeypatch.setattr("sys.argv", argv)
    assert environment()["command"] == expected


def test_a_failed_run_never_blocks_a_retry_with_other_settings(tmp_path):
    from qnewton.experiments._run import mark_active

    run = RunDir(tmp_path, "table3", {"a": 1})
    run.save_checkpoint({"x": 1})
    mark_active("failed", ValueError("boom"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "boom" in manifest["error"]
    again = RunDir(tmp_path, "table3", {"a": 2})  # other settings: allowed, the old record kept
    assert again.manifest["config"] == {"a": 2} and (tmp_path / "manifest.previous.json").exists()
    assert (tmp_path / "checkpoint.previous.pt").exists() and not (tmp_path / "checkpoint.pt").exists()
    again.finish("complete")
    assert oct((tmp_path / "manifest.json").stat().st_mode & 0o777) == "0o644"
