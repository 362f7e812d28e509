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


_environment_failure = ""


def prepare_environment(modules):
    """In an environment's zygote, after confinement: import the declared packages, then what
    `prepare` imports. Any failure is kept for `environment_failure`, as is a thread or a process
    the packages left running, which would make forking unsafe."""
    global _environment_failure
    import importlib
    import os
    import traceback

    try:
        for name in modules:
            importlib.import_module(name)
        prepare()
    except BaseException as error:  # noqa: B902 - SystemExit at import is the package's error too
        text = "".join(traceback.format_exception(error))
        _environment_failure = f"importing the environment's packages failed:\n{text[-8000:]}"
        return
    tasks = os.listdir("/proc/self/task")
    if len(tasks) != 1:
        _environment_failure = f"importing {', '.join(modules)} left {len(tasks) - 1} threads running; a zygote must stay single-threaded"
        return
    try:
        with open(f"/proc/self/task/{tasks[0]}/children") as children:
            started = children.read().strip()
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN; the filter refuses plain forks anyway
        started = ""
    if started:
        _environment_failure = f"importing {', '.join(modules)} started processes; a zygote may not keep any"


def environment_failure():
    return _environment_failure
