// A fixture of ServerTests: runs a program with less than root has, to provoke the failures
// at start that a person meets elsewhere (a container's seccomp profile, an unprivileged
// user), without touching this machine's settings for the other tests.
//
//   restricted --deny-io-uring EPERM|ENOSYS PROGRAM [ARGS...]
//       io_uring_setup fails with that errno, as under Docker's default seccomp profile.
//   restricted --no-bind-service PROGRAM [ARGS...]
//       CAP_NET_BIND_SERVICE leaves the bounding set: binding a port below 1024 fails with
//       EACCES, as for any user but root.
//
// Written in C because Swift cannot call the variadic prctl(2).
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

static int deny_io_uring(int err) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { .len = sizeof filter / sizeof filter[0], .filter = filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--deny-io-uring") == 0) {
        int err = strcmp(argv[2], "ENOSYS") == 0 ? ENOSYS : EPERM;
        if (deny_io_uring(err) != 0) { perror("restricted: seccomp"); return 70; }
        execv(argv[3], argv + 3);
    } else if (argc >= 3 && strcmp(argv[1], "--no-bind-service") == 0) {
        // Not root: the capability is not ours to drop, nor to use.
        if (prctl(PR_CAPBSET_DROP, CAP_NET_BIND_SERVICE, 0, 0, 0) != 0 && geteuid() == 0) {
            perror("restricted: PR_CAPBSET_DROP");
            return 70;
        }
        execv(argv[2], argv + 2);
    } else {
        fprintf(stderr, "usage: restricted --deny-io-uring EPERM|ENOSYS PROGRAM [ARGS...] | --no-bind-service PROGRAM [ARGS...]\n");
        return 64;
    }
    perror("restricted: execv");
    return 71;
}
