import pytest

from zk_pipeline.stark import fvec


@pytest.fixture(params=["native", "python"])
def field_ops(request):
    """Both field backends: every FVec test runs on each (the native one must be built)."""
    if request.param == "native":
        if fvec._felt is None:
            pytest.fail("the native field kernels (zk_pipeline/stark/_felt.c) are not built")
        return fvec._NativeOps
    return fvec._PythonOps
