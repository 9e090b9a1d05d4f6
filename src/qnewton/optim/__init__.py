"""The QNewton optimizer."""

from .qnewton import QNewton

__all__ = ["QNewton"]
