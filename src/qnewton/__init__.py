"""qnewton: Newton training with Hessian solves routed between classical and quantum solvers."""

__version__ = "0.1.0"
