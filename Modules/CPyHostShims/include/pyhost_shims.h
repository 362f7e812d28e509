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

int pyhost_set_no_new_privs(void);
int pyhost_set_parent_death_signal(int signal);
int pyhost_set_dumpable(int dumpable);
int pyhost_pidfd_open(pid_t pid);
int pyhost_pidfd_send_signal(int pidfd, int signal);
int pyhost_close_range_from(unsigned int first);
pid_t pyhost_fork(void);

/// Sends `data` with up to 4 descriptors as SCM_RIGHTS. Returns the byte count or -1.
ssize_t pyhost_send_with_fds(int socket, const void *data, size_t length, const int *fds, int fd_count);
/// Receives one message and up to `max_fds` descriptors (close-on-exec). Returns the byte count or -1.
ssize_t pyhost_receive_with_fds(int socket, void *buffer, size_t capacity, int *fds, int max_fds,
                                int *fd_count);

// A libseccomp filter (seccomp_shim.c). Actions are the PYHOST_SECCOMP_* values below.

enum {
    PYHOST_SECCOMP_ALLOW = 0,
    PYHOST_SECCOMP_KILL_PROCESS = 1,
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
int pyhost_seccomp_load(pyhost_seccomp_filter *filter);
void pyhost_seccomp_release(pyhost_seccomp_filter *filter);

/// Returns PYHOST_SECCOMP_* or a pyhost_seccomp_errno value as libseccomp's action.
uint32_t pyhost_seccomp_action(uint32_t action);

#endif
