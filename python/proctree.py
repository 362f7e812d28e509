"""A process's children, descendants and descriptors, read from /proc, for the tests, the benchmark and the soak."""

import os


def children(pid):
    """Pids of `pid`'s children, over all its threads; none if it has just exited."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(child) for child in listing.read().split()]
        except OSError:
            continue
    return found


def descendants(pid):
    """Pids of every process under `pid`, parents before their children."""
    found, frontier = [], [pid]
    while frontier:
        below = children(frontier.pop(0))
        found += below
        frontier += below
    return found


def descriptors(pid):
    """What each of `pid`'s descriptors points at: `socket:[…]`, `pipe:[…]`, `anon_inode:[pidfd]`, or
    a file's path; a descriptor closed while being read is skipped."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return targets


def context_switches(pid):
    """Times the threads of `pid` have been switched out so far, voluntarily (to wait) or not;
    0 if it has exited."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/status") as status:
                for line in status:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def cpu_seconds(pid):
    """(user, system) CPU seconds `pid` has used so far, with those of its children it has reaped
    (a worker that exited still counts, in its parent); zeros if it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    user, system, children_user, children_system = (int(value) for value in fields[11:15])
    return (user + children_user) / ticks, (system + children_system) / ticks
