"""Peak memory of the current process, measured so that children do not inherit it."""

from __future__ import annotations

import resource
from pathlib import Path

STATUS = Path("/proc/self/status")
# Run as `python -c AT_EXIT_REPORT -m ...`-style wrapper: prints the peak at exit on stderr.
PEAK_LINE = "bench-peak-rss-kb="


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``).

    Not ``ru_maxrss``: Linux carries it over fork and exec, so a child started by a large
    parent would report the parent's peak. ``VmHWM`` belongs to the memory map that exec
    creates afresh.
    """
    try:
        for line in STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_module_reporting_peak(module: str) -> str:
    """Python source that runs ``module`` as ``python -m`` would, then prints its peak memory
    on stderr as ``bench-peak-rss-kb=N`` (an atexit hook, so ``sys.exit`` still reports)."""
    return (
        "import atexit, runpy, sys\n"
        "def _peak():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        f"            print('{PEAK_LINE}' + line.split()[1], file=sys.stderr)\n"
        "atexit.register(_peak)\n"
        f"sys.argv[0] = {module!r}\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )


def parse_peak_mb(stderr: str) -> float | None:
    """The peak printed by :func:`run_module_reporting_peak`, in MB."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(PEAK_LINE):
            return int(line[len(PEAK_LINE) :]) / 1024
    return None
