"""Data-parallel training across processes and machines: ``mpiexec -n N python train.py``.

``DataParallel`` is the strategy (tf.distribute's shape): a model compiled inside
``strategy.scope()`` trains on every rank's shard of each global batch, its gradients
averaged over the ranks (MPI for host arrays, NCCL for GPU arrays), with the same weights
everywhere. Outside an MPI launch it is a strategy of one process that costs nothing.
"""

from .strategy import DataParallel, get_strategy

__all__ = ["DataParallel", "get_strategy"]
