"""Package list only; all metadata and options are in pyproject.toml.

`[tool.setuptools.packages.find]` cannot add kernels/ under its installed name tape.kernels,
so the list is found here: every tape* package, plus tape.kernels (mapped by package-dir).
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["tape", "tape.*"]), "tape.kernels"])
