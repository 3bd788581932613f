"""Trace and Session: a static graph captured from what ran, optimized, replayed fast.

``@tape.trace`` captures a function per input signature (``capture``); the ``Graph``
(``graph``) goes through the passes (``passes``) and is replayed as generated Python over
raw arrays (``replay``). ``Session`` and ``placeholder`` are the TF1-style door to the
same graphs (``session``).
"""

from .capture import TensorSpec, TracedFunction, run_eagerly, trace
from .graph import Graph, Node
from .session import Session, placeholder

__all__ = ["Graph", "Node", "Session", "TensorSpec", "TracedFunction", "placeholder",
           "run_eagerly", "trace"]
