#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "pyhost_shims.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int pyhost_unshare(int flags) { return unshare(flags); }
int pyhost_set_uid(uid_t id) { return setresuid(id, id, id); }
int pyhost_set_gid(gid_t id) { return setresgid(id, id, id); }
int pyhost_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int pyhost_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }
int pyhost_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
int pyhost_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int pyhost_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}
int pyhost_close_range_from(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, 0);
}

pid_t pyhost_fork(void) { return fork(); }
int pyhost_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

pid_t pyhost_clone_process(unsigned long namespace_flags) {
    return (pid_t)syscall(SYS_clone, namespace_flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

int pyhost_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int violation_channel = -1;

static void report_violation(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)context;
    unsigned int number = (unsigned int)info->si_syscall;
    unsigned char frame[PYHOST_FRAME_HEADER_SIZE + 4] = {
        0, 0, 0, 4, PYHOST_FRAME_SANDBOX_VIOLATION, (unsigned char)(number >> 24),
        (unsigned char)(number >> 16), (unsigned char)(number >> 8), (unsigned char)number};
    // Async-signal-safe: one write, then a second trapped call. SIGSYS is blocked in its own
    // handler, so the kernel resets it and kills the worker with SIGSYS, a death no handler can
    // fake (pid 1 of its namespace ignores the signals it sends itself): the server believes the
    // report only when the worker died so. acct is on no list of the filter: it traps.
    ssize_t ignored = write(violation_channel, frame, sizeof(frame));
    (void)ignored;
    syscall(SYS_acct, NULL);
    _exit(128 + SIGSYS);
}

int pyhost_report_seccomp_violations(int channel) {
    violation_channel = channel;
    struct sigaction action = {0};
    action.sa_sigaction = report_violation;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGSYS, &action, NULL);
}

ssize_t pyhost_send_with_fds(int socket, const void *data, size_t length, const int *fds, int fd_count) {
    char control[CMSG_SPACE(sizeof(int) * 4)] = {0};
    struct iovec iov = {.iov_base = (void *)data, .iov_len = length};
    struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd_count > 4) { errno = EINVAL; return -1; }
    if (fd_count > 0) {
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
    }
    ssize_t sent;
    do { sent = sendmsg(socket, &message, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t pyhost_receive_with_fds(int socket, void *buffer, size_t capacity, int *fds, int max_fds,
                                int *fd_count) {
    char control[CMSG_SPACE(sizeof(int) * 4)] = {0};
    struct iovec iov = {.iov_base = buffer, .iov_len = capacity};
    struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof(control)};
    ssize_t received;
    do { received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    *fd_count = 0;
    if (received < 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *incoming = (int *)CMSG_DATA(header);
        for (int i = 0; i < count; i++) {
            if (*fd_count < max_fds) fds[(*fd_count)++] = incoming[i];
            else close(incoming[i]);
        }
    }
    return received;
}
