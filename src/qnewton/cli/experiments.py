"""Experiment subcommands: one per table/figure of the Q-Newton paper, plus `reproduce`.

Each writes JSON + CSV + PNG + a Markdown report into its run folder (``--out``) and resumes from
its checkpoint when rerun with the same settings (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _gate_time(v: str) -> str | float:
    try:
        return float(v)
    except ValueError:
        return v


def add_common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", type=Path, default=Path(default_out), help=f"run folder (default {default_out})")
    p.add_argument("--fresh", action="store_true", help="discard a previous run in --out instead of resuming")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_costs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gate-time",
        type=_gate_time,
        default="atto",
        help="quantum gate time: ibm_sherbrooke, ghz, thz, atto (the paper's, 1e-18 s) or seconds",
    )
    p.add_argument(
        "--readout",
        choices=["none", "tomography"],
        default="none",
        help="'none': the paper's solve-only cost; 'tomography': reading x out counted too",
    )
    p.add_argument(
        "--classical-c",
        type=float,
        default=None,
        help="fixed C of the classical cost C N^3 (default: calibrated on this machine, cached)",
    )


def costs_from(args: argparse.Namespace):
    from ..experiments.training import CostSettings

    return CostSettings(gate_time=args.gate_time, readout=args.readout, classical_c=args.classical_c)


def _done(path: Path) -> int:
    print(f"report: {path / 'report.md'}")
    return 0


# -- table3 -----------------------------------------------------------------------------------------
def _table3(args: argparse.Namespace) -> int:
    from ..experiments._common import default_image_dataset
    from ..experiments.table3 import Table3Config, run_table3

    cfg = Table3Config(
        dataset=args.dataset or default_image_dataset(),
        data_dir=args.data_dir,
        n_train=args.n_train,
        n_test=args.n_test,
        batch_size=args.batch_size,
        sgd_arm_steps=args.sgd_steps,
        newton_steps=args.newton_steps,
        warmup_steps=args.warmup_steps,
        sgd_lr=args.sgd_lr,
        newton_lr=args.lr,
        eps=args.eps,
        sparsity=args.sparsity,
        target_accuracy=args.target,
        eval_every=args.eval_every,
        costs=costs_from(args),
        seed=args.seed,
        hidden=tuple(args.hidden),
    )
    return _done(run_table3(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table3",
        help="paper Table III: DNN with SGD / classical / quantum / Q-Newton",
        description="Steps to a target test accuracy, seconds per step and total time for the "
        "four methods; measured and modeled times in separate columns.",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="digits, digits-784, fashion-mnist, mnist or idx (default: fashion-mnist if installed)",
    )
    p.add_argument("--data-dir", default=None, help="folder with IDX files (mnist/idx/fashion-mnist)")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--hidden", type=int, nargs="+", default=[16, 16])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--sgd-steps", type=int, default=300, help="steps of the SGD arm")
    p.add_argument("--newton-steps", type=int, default=40, help="Newton steps of each Newton arm")
    p.add_argument("--warmup-steps", type=int, default=20, help="SGD steps before Newton (paper Sec. IV-B)")
    p.add_argument("--sgd-lr", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1.0, help="Newton step size")
    p.add_argument(
        "--eps", type=float, default=0.05, help="regularization H + eps I (paper: 1.0 on its data; see docs/RESULTS.md)"
    )
    p.add_argument("--no-line-search", action="store_true", help="fixed Newton step lr (the paper's Algorithm 1)")
    p.add_argument("--sparsity", type=float, default=None, help="oracle sparsity as a ratio of N (default p=50%%)")
    p.add_argument("--target", type=float, default=None, help="target test accuracy (default: SGD's best)")
    p.add_argument("--eval-every", type=int, default=5)
    add_costs(p)
    add_common(p, "runs/table3")
    p.set_defaults(func=_table3)
    register_more(sub)


# -- the other experiments ----------------------------------------------------------------------------
def _dataset(args: argparse.Namespace) -> str:
    from ..experiments._common import default_image_dataset

    return args.dataset or default_image_dataset()


def _table2(args):
    from ..experiments.table2 import Table2Config, run_table2

    cfg = Table2Config(
        dataset=_dataset(args),
        data_dir=args.data_dir,
        sizes=tuple(args.sizes),
        exact_max=args.exact_max,
        eps=args.eps,
        repeats=args.repeats,
        seed=args.seed,
    )
    return _done(run_table2(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _table4(args):
    from ..experiments.table4 import Table4Config, run_table4

    cfg = Table4Config(
        model=args.model,
        corpus=args.corpus,
        data_dir=args.data_dir,
        block_size=args.block_size,
        n_train_blocks=args.n_train_blocks,
        batch_size=args.batch_size,
        curvature_batch_size=args.curvature_batch_size,
        sgd_arm_steps=args.sgd_steps,
        newton_steps=args.newton_steps,
        warmup_steps=args.warmup_steps,
        sgd_lr=args.sgd_lr,
        newton_lr=args.lr,
        eps=args.eps,
        target_loss=args.target,
        eval_every=args.eval_every,
        costs=costs_from(args),
        seed=args.seed,
    )
    return _done(run_table4(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _profile(args):
    from ..experiments.sparsity_profile import ProfileConfig, run_profile

    cfg = ProfileConfig(
        dataset=_dataset(args),
        data_dir=args.data_dir,
        steps=tuple(args.steps),
        batch_size=args.batch_size,
        seed=args.seed,
    )
    return _done(run_profile(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _regularization(args):
    from ..experiments.regularization import RegularizationConfig, run_regularization

    cfg = RegularizationConfig(
        dataset=_dataset(args),
        data_dir=args.data_dir,
        eps_values=tuple(args.eps_values),
        warmup_steps=args.warmup_steps,
        newton_steps=args.newton_steps,
        batch_size=args.batch_size,
        costs=costs_from(args),
        seed=args.seed,
    )
    return _done(run_regularization(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _oracle_sparsity(args):
    from ..experiments.oracle_sparsity import OracleSparsityConfig, run_oracle_sparsity

    cfg = OracleSparsityConfig(
        dataset=_dataset(args),
        data_dir=args.data_dir,
        ratios=tuple(args.ratios),
        warmup_steps=args.warmup_steps,
        newton_steps=args.newton_steps,
        batch_size=args.batch_size,
        eps=args.eps,
        costs=costs_from(args),
        seed=args.seed,
    )
    return _done(run_oracle_sparsity(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _routes(args):
    from ..experiments.routes import RoutesConfig, run_routes

    cfg = RoutesConfig(
        dataset=_dataset(args),
        data_dir=args.data_dir,
        warmup_steps=args.warmup_steps,
        newton_steps=args.newton_steps,
        batch_size=args.batch_size,
        eps=args.eps,
        costs=costs_from(args),
        seed=args.seed,
    )
    return _done(run_routes(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _reproduce(args):
    from ..experiments._common import default_image_dataset
    from ..experiments.reproduce import EXPERIMENTS, quick_configs, run_reproduce

    costs = costs_from(args)
    if args.quick:
        configs = quick_configs(args.dataset or "digits", costs, args.seed)
    else:
        from ..experiments.oracle_sparsity import OracleSparsityConfig
        from ..experiments.regularization import RegularizationConfig
        from ..experiments.routes import RoutesConfig
        from ..experiments.sparsity_profile import ProfileConfig
        from ..experiments.table2 import Table2Config
        from ..experiments.table3 import Table3Config
        from ..experiments.table4 import Table4Config

        ds = args.dataset or default_image_dataset()
        configs = {
            "table2": Table2Config(dataset=ds),
            "table3": Table3Config(dataset=ds, costs=costs),
            "table4": Table4Config(costs=costs),
            "profile": ProfileConfig(dataset=ds),
            "regularization": RegularizationConfig(dataset=ds, costs=costs),
            "oracle_sparsity": OracleSparsityConfig(dataset=ds, costs=costs),
            "routes": RoutesConfig(dataset=ds),
        }
    only = tuple(args.only) if args.only else None
    if only:
        unknown = set(only) - set(EXPERIMENTS)
        if unknown:
            raise SystemExit(f"qnewton reproduce: unknown --only {sorted(unknown)}; choose from {EXPERIMENTS}")
    path = run_reproduce(configs, args.out, only=only, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


def _image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="digits, digits-784, fashion-mnist, mnist or idx (default: fashion-mnist if installed)",
    )
    p.add_argument("--data-dir", default=None, help="folder with IDX files (mnist/idx/fashion-mnist)")
    p.add_argument("--batch-size", type=int, default=256)


def register_more(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("table2", help="paper Table II: kappa-estimation time vs block size")
    _image_args(p)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    p.add_argument("--exact-max", type=int, default=4096, help="largest N for the SVD ground truth")
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--repeats", type=int, default=3)
    add_common(p, "runs/table2")
    p.set_defaults(func=_table2)

    p = sub.add_parser("table4", help="paper Table IV: Mistral/BERT with SGD / classical / quantum / Q-Newton")
    p.add_argument("--model", choices=["mistral", "bert"], default="mistral")
    p.add_argument("--corpus", default="pydoc", help="pydoc (embedded), wikitext, wikitext-2-raw, wikitext-103-raw")
    p.add_argument("--data-dir", default=None, help="folder with wiki.train.raw etc.")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-train-blocks", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--curvature-batch-size", type=int, default=16)
    p.add_argument("--sgd-steps", type=int, default=200)
    p.add_argument("--newton-steps", type=int, default=20)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--sgd-lr", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--eps", type=float, default=0.5, help="regularization (paper: 0.5 for Mistral)")
    p.add_argument("--target", type=float, default=None, help="target eval loss (default: SGD's best)")
    p.add_argument("--eval-every", type=int, default=5)
    add_costs(p)
    add_common(p, "runs/table4")
    p.set_defaults(func=_table4)

    p = sub.add_parser("profile", help="paper Fig. 6: p%%-sparsity of Hessian rows at two training steps")
    _image_args(p)
    p.add_argument("--steps", type=int, nargs="+", default=[0, 10])
    add_common(p, "runs/profile")
    p.set_defaults(func=_profile)

    p = sub.add_parser("regularization", help="paper Fig. 8: accuracy and kappa vs eps")
    _image_args(p)
    p.add_argument("--eps-values", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1, 1.0, 10.0])
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--newton-steps", type=int, default=20)
    add_costs(p)
    add_common(p, "runs/regularization")
    p.set_defaults(func=_regularization)

    p = sub.add_parser("sparsity", help="paper Fig. 1 left: accuracy vs oracle sparsity, symmetric vs row-wise")
    _image_args(p)
    p.add_argument("--ratios", type=float, nargs="+", default=[1.0, 0.6, 0.4, 0.2, 0.1, 0.05])
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--newton-steps", type=int, default=20)
    p.add_argument("--eps", type=float, default=0.05)
    add_costs(p)
    add_common(p, "runs/oracle_sparsity")
    p.set_defaults(func=_oracle_sparsity)

    p = sub.add_parser("routes", help="paper Fig. 1 right: classical vs quantum cost per step and route")
    _image_args(p)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--newton-steps", type=int, default=20)
    p.add_argument("--eps", type=float, default=0.05)
    add_costs(p)
    p.set_defaults(gate_time="ghz")
    add_common(p, "runs/routes")
    p.set_defaults(func=_routes)

    p = sub.add_parser("reproduce", help="every table and figure, in one run folder (--quick: minutes)")
    p.add_argument("--quick", action="store_true", help="small sizes on the embedded data (a few minutes)")
    p.add_argument("--dataset", default=None, help="image data set (quick default: digits)")
    p.add_argument("--only", nargs="+", default=None, help="a subset of the experiments")
    add_costs(p)
    add_common(p, "runs/reproduce")
    p.set_defaults(func=_reproduce)
