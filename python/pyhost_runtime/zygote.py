"""Run once in the zygote, before any worker is forked."""

import gc
import platform


def prepare():
    """Import everything a worker needs, then freeze the heap so forks share it."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    # Handlers `import pyhost`; the confined worker cannot see the checkout, so it is loaded here.
    import pyhost  # noqa: F401

    from . import capture, worker  # noqa: F401

    gc.collect()
    # Objects alive now are never collected, so the collector never writes to (and un-shares)
    # the pages a forked worker inherits.
    gc.freeze()


def versions():
    import pandas

    return f"{platform.python_version()} {pandas.__version__}"
