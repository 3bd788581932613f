"""Trace and Session: a static graph captured from what ran, optimized, replayed fast.

``@tape.trace`` captures a function per input signature (``capture``); the ``Graph``
(``graph``) goes through the passes (``passes``) and is replayed as generated Python over
raw arrays (``replay``). ``Session`` and ``placeholder`` are the TF1-style door to the
same graphs (``session``).
"""

from .capture import TracedFunction, run_eagerly, trace
from .export import export_onnx
from .graph import Graph, Node, TensorSpec
from .session import Session, placeholder

# ``tape.trace`` is the decorator, which hides this package's name; hang the export on it
# so that ``tape.trace.export_onnx(fn, path)`` reads as documented.
trace.export_onnx = export_onnx

__all__ = ["Graph", "Node", "Session", "TensorSpec", "TracedFunction", "export_onnx",
           "placeholder", "run_eagerly", "trace"]
