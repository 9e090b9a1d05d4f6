"""How H is obtained: exact Hessian blocks, empirical Fisher, Hessian-vector products.

Works for any ``nn.Module`` through ``torch.func`` (``functional_call``, ``grad``, ``vjp``,
``jvp``, ``vmap``); no table of layer types.

Typical use (the paper's DNN, exact layer-wise Hessian, Q-Newton Sec. V-A)::

    from qnewton.curvature import LossProblem, exact_hessian, CurvatureConfig
    problem = LossProblem(model, nn.CrossEntropyLoss())
    res = exact_hessian(problem, (X, y))             # blocks="layerwise" by default
    H = res["0.weight"].matrix                        # 12544 x 12544, symmetrized
    g = res.grads["0.weight"]                         # gradient of the mean loss, flat
    res.loss, res.measured_seconds

Large models (layer-wise empirical Fisher, a transformers model through ``forward_loss``)::

    problem = LossProblem(bert, forward_loss=lambda m, b: m(**b).loss)
    res = empirical_fisher(problem, batch, config=CurvatureConfig(curvature_batch_size=32))
    op = res["bert.encoder.layer.0.attention.self.query.weight"].operator()   # F v, matrix-free

Matrix-free (Lanczos, CG)::

    op = HessianOperator(problem, (X, y), block="0.weight", numpy_dtype=np.float64)
    scipy.sparse.linalg.eigsh(op, k=1)               # numpy in/out
    op.matvec(torch_vector)                          # torch in/out
"""

from .blocks import BlockSpec, ParamBlock, make_blocks
from .compute import (
    compute_curvature,
    empirical_fisher,
    exact_hessian,
    loss_and_gradient,
    per_sample_gradients,
)
from .config import CurvatureConfig
from .operators import CurvatureOperator, DenseOperator, EmpiricalFisherOperator, HessianOperator
from .problem import LossProblem
from .result import BlockCurvature, CurvatureKind, CurvatureResult

__all__ = [
    "BlockCurvature",
    "BlockSpec",
    "CurvatureConfig",
    "CurvatureKind",
    "CurvatureOperator",
    "CurvatureResult",
    "DenseOperator",
    "EmpiricalFisherOperator",
    "HessianOperator",
    "LossProblem",
    "ParamBlock",
    "compute_curvature",
    "empirical_fisher",
    "exact_hessian",
    "loss_and_gradient",
    "make_blocks",
    "per_sample_gradients",
]
