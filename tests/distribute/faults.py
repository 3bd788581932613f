"""Run by test_single.py under ``mpiexec -n 2``: rank 1 fails in the way argv[1] names
(``exit``: dies without a word; ``raise``: an uncaught error) while rank 0 all-reduces."""

import os
import sys

import numpy as np

import tape

strategy = tape.distribute.DataParallel()
if strategy.rank == 1:
    if sys.argv[1] == "exit":
        os._exit(1)
    raise ValueError("rank 1 fails on purpose")
strategy.all_reduce([tape.tensor(np.ones(3))])
print("rank 0 finished", flush=True)
