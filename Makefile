# Developer commands. Needs only python3 (with venv and pip) and make; everything else goes
# into .venv. The install re-runs only when the packaging files change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
GPU_STAMP := $(VENV)/.gpu-stamp
# nvcc from PyPI (CUDA 13.0 wheels) when none is on PATH; the stamp holds its path.
NVCC_STAMP := $(VENV)/.nvcc-path
NVCC_WHEELS := nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
	nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
KERNEL_SOURCES := $(wildcard kernels/*.cu)
# Every warning is an error, in nvcc's front end and in the host compiler alike.
NVCC_FLAGS := -std=c++17 -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror \
	-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
# Lint only the folders that exist so far.
LINT_DIRS := $(wildcard tape kernels tests benchmarks tutorials)

.DEFAULT_GOAL := test
.PHONY: install test mpi-test demo bench lint kernels gpu-test gpu-double-test gpu-bench clean distclean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(STAMP): pyproject.toml setup.cfg setup.py | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test,examples,distribute]'
	touch $@

# torch, jax, autograd and mygrad for the comparisons; only `make bench` pays for them.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[test,examples,distribute,bench]'
	touch $@

lint: install
	$(BIN)/ruff check $(LINT_DIRS)

# The suite, then its GPU cases again on the CuPy double (tests/cupy_double): NumPy behind
# CuPy's names, as strict as CuPy about host arrays, kernels run by the CUDA emulation.
test: install lint kernels
	JAX_PLATFORMS=cpu $(BIN)/python -m pytest -n 2 -q
	$(MAKE) --no-print-directory mpi-test
	$(MAKE) --no-print-directory gpu-double-test

# tape.distribute on two ranks for real (tests marked mpi; a plain pytest run deselects them).
mpi-test: install
	TAPE_DISTRIBUTE_TIMEOUT=60 JAX_PLATFORMS=cpu OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
		$(BIN)/mpiexec -n 2 $(BIN)/python -m pytest -q -p no:xdist -p no:cacheprovider \
		tests/distribute -m mpi

# Then device-agnostic test files again with every tensor and weight made on the double's GPU
# (the slowest trainings left out: the emulated kernels run a thread per CUDA thread).
GPU_DEFAULT_TESTS := tests/layers/test_convolutional.py tests/layers/test_pooling.py \
	tests/layers/test_core.py tests/layers/test_embedding.py tests/layers/test_merge.py \
	tests/layers/test_base.py tests/test_losses.py tests/test_metrics.py tests/test_tape.py \
	tests/testing tests/test_callbacks.py tests/test_models.py tests/test_saving.py \
	tests/test_regularizers.py tests/test_training.py tests/test_initializers.py \
	tests/test_numpy_interop.py tests/test_errors.py tests/test_data.py \
	tests/layers/test_reshaping.py tests/layers/test_activation_layers.py \
	tests/layers/test_noise.py tests/test_losses_hinge_regression.py \
	tests/test_metrics_regression.py tests/test_optimizers.py tests/test_optimizers_extra.py \
	tests/test_mixed_precision.py

GPU_DEFAULT_MARKS := not slow and not gpu
GPU_DEFAULT_KEYWORDS := not learns and not digits and not traced_cnn
# (.ci/gpu reads these three variables from here and runs the same selection on a real GPU.)

gpu-double-test: install
	TAPE_CUPY_DOUBLE=1 TAPE_REQUIRE_GPU=1 JAX_PLATFORMS=cpu $(BIN)/python -m pytest -n 2 -q -m gpu
	TAPE_CUPY_DOUBLE=1 TAPE_DEFAULT_DEVICE=gpu JAX_PLATFORMS=cpu $(BIN)/python -m pytest -n 2 -q \
		-m "$(GPU_DEFAULT_MARKS)" -k "$(GPU_DEFAULT_KEYWORDS)" $(GPU_DEFAULT_TESTS)

# Compile every kernel with nvcc for sm_80 and sm_90 (a syntax and type gate: CI has no GPU),
# plus one generated elementwise kernel and the kernel of every op whose GPU kernel is generated
# from its CUDA expression (ops.gpu.ElementwiseKernel); nvcc comes from PyPI into .venv when
# not on PATH.
export GENERATED_OP_KERNELS := from pathlib import Path; from tape import kernels, ops; \
	from tape.ops.gpu import ElementwiseKernel as E; \
	[Path(f"build/kernels/generated_{n}.cu").write_text(kernels.expand_includes(o.kernel.code)) \
	for n, o in ops.REGISTRY.items() if isinstance(o.kernel, E)]
kernels: install
	@nvcc="$$(command -v nvcc || true)"; \
	if [ -z "$$nvcc" ]; then \
		$(MAKE) --no-print-directory $(NVCC_STAMP) && nvcc="$$(cat $(NVCC_STAMP))"; \
	fi; \
	[ -x "$$nvcc" ] || { echo "make kernels: no nvcc (looked on PATH and in .venv)"; exit 1; }; \
	mkdir -p build/kernels && \
	$(BIN)/python -c "from tape import kernels; print(kernels.expand_includes(kernels.compile_elementwise('fused_sample', 'y = a * x + b;', ('a', 'x', 'b'), ('y',)).code))" > build/kernels/generated_sample.cu && \
	$(BIN)/python -c "$$GENERATED_OP_KERNELS" && \
	for f in $(KERNEL_SOURCES) build/kernels/generated_*.cu; do \
		echo "$$nvcc $$f (sm_80, sm_90)"; \
		"$$nvcc" $(NVCC_FLAGS) -Ikernels -c $$f -o build/kernels/$$(basename $$f .cu).o || exit 1; \
	done

$(NVCC_STAMP): | $(BIN)/python
	$(BIN)/python -m pip install $(NVCC_WHEELS)
	$(BIN)/python -c "import nvidia, pathlib; print(next(p for p in (pathlib.Path(d) / 'cu13' / 'bin' / 'nvcc' for d in nvidia.__path__) if p.exists()))" > $@.tmp
	mv $@.tmp $@

# CuPy for the GPU path (a machine with a CUDA driver).
$(GPU_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[test,examples,distribute,gpu]'
	touch $@

# The whole suite with the GPU cases on: where no GPU is usable they fail instead of skipping.
gpu-test: $(GPU_STAMP) lint kernels
	TAPE_REQUIRE_GPU=1 JAX_PLATFORMS=cpu $(BIN)/python -m pytest -n 2 -q

gpu-bench: $(GPU_STAMP) $(BENCH_STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python -m benchmarks.gpu

demo: install
	$(BIN)/python -m tape.demo

# `make bench BENCH_ARGS="--quick --only rnn"` passes options to the runner.
bench: $(BENCH_STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python -m benchmarks $(BENCH_ARGS)

# Build outputs and tool caches; keeps .venv (distclean removes it too).
clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis .ruff_cache .jax_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
