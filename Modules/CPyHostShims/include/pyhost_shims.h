#ifndef PYHOST_SHIMS_H
#define PYHOST_SHIMS_H

#include <stdint.h>
#include <sys/types.h>

// The embedded interpreter (python_shim.c).

/// Initializes CPython from a PyConfig that ignores the environment and names Debian's interpreter.
/// Returns 0, or -1 with a message in `error` (at most `error_size` bytes).
int pyhost_python_initialize(const char *program_name, char *error, size_t error_size);

/// Runs `code` in `__main__`. Returns 0, or -1 after printing the exception to stderr.
int pyhost_python_run(const char *code);

/// Calls `module.function(fd)` and returns its int result, or -1 after printing the exception.
int pyhost_python_call_with_fd(const char *module, const char *function, int fd);

/// Calls `module.function()` and returns a malloc'ed UTF-8 copy of its str result, or NULL.
char *pyhost_python_call_str(const char *module, const char *function);

void pyhost_python_before_fork(void);
void pyhost_python_after_fork_child(void);
void pyhost_python_after_fork_parent(void);

// Linux calls that Swift cannot make itself, being variadic or missing from Glibc (linux_shim.c).

/// Linux constants that Glibc's Swift module leaves out (they need _GNU_SOURCE).
enum {
    PYHOST_CLONE_THREAD = 0x00010000,
    PYHOST_CLONE_NEWNS = 0x00020000,
    PYHOST_CLONE_NEWUTS = 0x04000000,
    PYHOST_CLONE_NEWIPC = 0x08000000,
    PYHOST_CLONE_NEWUSER = 0x10000000,
    PYHOST_CLONE_NEWPID = 0x20000000,
    PYHOST_CLONE_NEWNET = 0x40000000,
    PYHOST_PR_SET_NAME = 15,
};

int pyhost_unshare(int flags);
/// setresuid(id, id, id) and setresgid(id, id, id).
int pyhost_set_uid(uid_t id);
int pyhost_set_gid(gid_t id);
int pyhost_set_no_new_privs(void);
int pyhost_set_parent_death_signal(int signal);
int pyhost_set_dumpable(int dumpable);
int pyhost_pidfd_open(pid_t pid);
int pyhost_pidfd_send_signal(int pidfd, int signal);
int pyhost_close_range_from(unsigned int first);
pid_t pyhost_fork(void);
/// pipe2(fds, O_CLOEXEC).
int pyhost_pipe_cloexec(int fds[2]);
/// fork() with extra namespace flags (CLONE_NEWPID, CLONE_NEWNS, …): a raw clone(2), safe only in a
/// single-threaded process. Returns as fork does.
pid_t pyhost_clone_process(unsigned long namespace_flags);
int pyhost_pivot_root(const char *new_root, const char *put_old);
/// A frame on a worker's channel (PyHostWire's `Frame`, python/pyhost_runtime/channel.py): a 4-byte
/// big-endian payload length, a kind byte, the payload. Defined once here for C and Swift.
enum {
    PYHOST_FRAME_HEADER_SIZE = 5,
    /// Worker → server, from the SIGSYS handler: the refused syscall's number, 4 bytes big-endian.
    PYHOST_FRAME_SANDBOX_VIOLATION = 16,
};
/// Makes a seccomp SIGSYS (SCMP_ACT_TRAP) end the process after writing, on `channel`, a
/// PYHOST_FRAME_SANDBOX_VIOLATION frame whose payload is the offending syscall's number.
int pyhost_report_seccomp_violations(int channel);
/// The name of syscall `number` on this architecture, or NULL (libseccomp's table).
const char *pyhost_seccomp_syscall_name(int number);

/// Sends `data` with up to 4 descriptors as SCM_RIGHTS. Returns the byte count or -1.
ssize_t pyhost_send_with_fds(int socket, const void *data, size_t length, const int *fds, int fd_count);
/// Receives one message and up to `max_fds` descriptors (close-on-exec). Returns the byte count or -1.
ssize_t pyhost_receive_with_fds(int socket, void *buffer, size_t capacity, int *fds, int max_fds,
                                int *fd_count);

// A libseccomp filter (seccomp_shim.c). Actions are the PYHOST_SECCOMP_* values below.

enum {
    PYHOST_SECCOMP_ALLOW = 0,
    PYHOST_SECCOMP_KILL_PROCESS = 1,
    PYHOST_SECCOMP_TRAP = 2,
};

/// An action that fails the call with `errno`.
uint32_t pyhost_seccomp_errno(int error);

typedef struct pyhost_seccomp_filter pyhost_seccomp_filter;

pyhost_seccomp_filter *pyhost_seccomp_create(uint32_t default_action);
/// Resolves a syscall name for the native architecture; negative when unknown.
int pyhost_seccomp_syscall(const char *name);
/// Adds `action` for `syscall`, unconditionally.
int pyhost_seccomp_add(pyhost_seccomp_filter *filter, uint32_t action, int syscall);
/// Adds `action` for `syscall` when `(arg[index] & mask) != 0`.
int pyhost_seccomp_add_masked_nonzero(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                      unsigned int index, uint64_t mask);
/// Adds `action` for `syscall` when `(arg[index] & mask) == 0`.
int pyhost_seccomp_add_masked_zero(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                   unsigned int index, uint64_t mask);
/// Adds `action` for `syscall` when `arg[index] != value`.
int pyhost_seccomp_add_not_equal(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                 unsigned int index, uint64_t value);
/// Adds `action` for `syscall` when `arg[index] == value`.
int pyhost_seccomp_add_equal(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                             unsigned int index, uint64_t value);

enum {
    PYHOST_SECCOMP_EQUAL = 0,
    PYHOST_SECCOMP_NOT_EQUAL = 1,
    /// `(arg[index] & mask) == value`.
    PYHOST_SECCOMP_MASKED_EQUAL = 2,
};

/// One comparison of a syscall argument, for `pyhost_seccomp_add_comparisons`.
typedef struct {
    unsigned int index;
    int operation;
    uint64_t mask;
    uint64_t value;
} pyhost_seccomp_comparison;

/// Adds `action` for `syscall` when every comparison holds (at most one per argument, at most 6).
int pyhost_seccomp_add_comparisons(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                   const pyhost_seccomp_comparison *comparisons, unsigned int count);
int pyhost_seccomp_load(pyhost_seccomp_filter *filter);
void pyhost_seccomp_release(pyhost_seccomp_filter *filter);

/// Returns PYHOST_SECCOMP_* or a pyhost_seccomp_errno value as libseccomp's action.
uint32_t pyhost_seccomp_action(uint32_t action);

#endif
