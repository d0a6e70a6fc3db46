"""reprotune: a reproducible, data-versioned ML experiment pipeline."""

import os

# REPROTUNE_NUM_THREADS caps every thread pool of a stage (BLAS, TensorFlow, torch). It must
# reach the BLAS variables before numpy loads, hence here: two DVC queue workers on one
# machine each want 1, or they thrash.
if os.environ.get("REPROTUNE_NUM_THREADS"):
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, os.environ["REPROTUNE_NUM_THREADS"])
