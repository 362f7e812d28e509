#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include "pyhost_shims.h"

// The opaque type Swift sees is libseccomp's context.
struct pyhost_seccomp_filter;

uint32_t pyhost_seccomp_errno(int error) { return SCMP_ACT_ERRNO((uint32_t)error); }

uint32_t pyhost_seccomp_action(uint32_t action) {
    switch (action) {
    case PYHOST_SECCOMP_ALLOW: return SCMP_ACT_ALLOW;
    case PYHOST_SECCOMP_KILL_PROCESS: return SCMP_ACT_KILL_PROCESS;
    case PYHOST_SECCOMP_TRAP: return SCMP_ACT_TRAP;
    default: return action;
    }
}

pyhost_seccomp_filter *pyhost_seccomp_create(uint32_t default_action) {
    return (pyhost_seccomp_filter *)seccomp_init(pyhost_seccomp_action(default_action));
}

int pyhost_seccomp_syscall(const char *name) { return seccomp_syscall_resolve_name(name); }

int pyhost_seccomp_add(pyhost_seccomp_filter *filter, uint32_t action, int syscall) {
    return seccomp_rule_add((scmp_filter_ctx)filter, pyhost_seccomp_action(action), syscall, 0);
}

int pyhost_seccomp_add_masked_nonzero(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                      unsigned int index, uint64_t mask) {
    // libseccomp has no "masked != 0": the rule is "masked == value" for each set bit.
    for (int bit = 0; bit < 64; bit++) {
        uint64_t flag = (uint64_t)1 << bit;
        if ((mask & flag) == 0) continue;
        int rc = seccomp_rule_add((scmp_filter_ctx)filter, pyhost_seccomp_action(action), syscall, 1,
                                  SCMP_CMP(index, SCMP_CMP_MASKED_EQ, flag, flag));
        if (rc != 0) return rc;
    }
    return 0;
}

int pyhost_seccomp_add_masked_zero(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                   unsigned int index, uint64_t mask) {
    return seccomp_rule_add((scmp_filter_ctx)filter, pyhost_seccomp_action(action), syscall, 1,
                            SCMP_CMP(index, SCMP_CMP_MASKED_EQ, mask, 0));
}

int pyhost_seccomp_load(pyhost_seccomp_filter *filter) { return seccomp_load((scmp_filter_ctx)filter); }

void pyhost_seccomp_release(pyhost_seccomp_filter *filter) { seccomp_release((scmp_filter_ctx)filter); }

int pyhost_seccomp_add_not_equal(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                 unsigned int index, uint64_t value) {
    return seccomp_rule_add((scmp_filter_ctx)filter, pyhost_seccomp_action(action), syscall, 1,
                            SCMP_CMP(index, SCMP_CMP_NE, value));
}

const char *pyhost_seccomp_syscall_name(int number) {
    // libseccomp returns a malloc'ed copy; callers of this shim keep names for the process's life.
    return seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
}

int pyhost_seccomp_add_equal(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                             unsigned int index, uint64_t value) {
    return seccomp_rule_add((scmp_filter_ctx)filter, pyhost_seccomp_action(action), syscall, 1,
                            SCMP_CMP(index, SCMP_CMP_EQ, value));
}

int pyhost_seccomp_add_comparisons(pyhost_seccomp_filter *filter, uint32_t action, int syscall,
                                   const pyhost_seccomp_comparison *comparisons, unsigned int count) {
    struct scmp_arg_cmp converted[6];
    if (count > 6) return -EINVAL;
    for (unsigned int i = 0; i < count; i++) {
        const pyhost_seccomp_comparison *c = &comparisons[i];
        switch (c->operation) {
        case PYHOST_SECCOMP_EQUAL: converted[i] = SCMP_CMP(c->index, SCMP_CMP_EQ, c->value); break;
        case PYHOST_SECCOMP_NOT_EQUAL: converted[i] = SCMP_CMP(c->index, SCMP_CMP_NE, c->value); break;
        case PYHOST_SECCOMP_MASKED_EQUAL:
            converted[i] = SCMP_CMP(c->index, SCMP_CMP_MASKED_EQ, c->mask, c->value);
            break;
        default: return -EINVAL;
        }
    }
    return seccomp_rule_add_array((scmp_filter_ctx)filter, pyhost_seccomp_action(action), syscall, count, converted);
}
