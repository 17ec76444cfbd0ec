"""Build the optional native field kernels (``zk_pipeline/stark/_felt.c``).

Everything else is declared in ``pyproject.toml``. The extension is optional: without a C
compiler the install still succeeds and the prover uses its pure-Python field backend
(same proofs, several times slower; ``zkp doctor``-style checks report which one is active
via ``zk_pipeline.stark.fvec.BACKEND``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zk_pipeline.stark._felt",
            sources=["zk_pipeline/stark/_felt.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
