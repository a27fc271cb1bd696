// CLiburing: the C boundary of uring-cluster.
//
// liburing's `static inline` helpers (io_uring_prep_*, io_uring_sqe_set_data64,
// io_uring_cq_advance, io_uring_buf_ring_*) import into Swift directly. This header
// adds only what Swift cannot import: macros built from enum bits, the CMSG_* macros,
// and constants newer than Debian's liburing 2.3 headers. Every symbol carries the
// CLiburing_ prefix.
#ifndef CLIBURING_H
#define CLIBURING_H

#if !__has_include(<liburing.h>)
#error "liburing.h not found: run 'make setup' (installs Debian's liburing-dev) and build again."
#endif

// liburing.h 2.3 defines _XOPEN_SOURCE/_GNU_SOURCE before its own includes; if it is the
// first to pull in these headers, a clean build fails with "__fds_bits ... not present in
// definition of fd_set". Including them first, in this order, avoids that trap.
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <signal.h>
#include <sched.h>
#include <fcntl.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/signalfd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
// The kernel's uapi header first: it and liburing's bundled copy share one include guard,
// so liburing's is skipped. swift-system (SystemPackage, for Errno) includes the kernel's
// too, and Clang rejects two different definitions of io_uring_sqe in one Swift module.
#include <linux/io_uring.h>
#include <liburing.h>
// struct statx and STATX_*: glibc declares them only under _GNU_SOURCE, which a Swift
// module's headers do not get; the kernel's own header has them.
#include <linux/stat.h>

// AT_EMPTY_PATH (statx of an open descriptor) is likewise behind _GNU_SOURCE in glibc's fcntl.h.
static inline int CLiburing_AT_EMPTY_PATH(void) {
#ifdef AT_EMPTY_PATH
    return AT_EMPTY_PATH;
#else
    return 0x1000;
#endif
}

// pipe2 (a close-on-exec pipe in one call, for splicing) is declared by glibc only under
// _GNU_SOURCE; this declaration is its documented prototype.
extern int pipe2(int pipefd[2], int flags);
static inline int CLiburing_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

// IOSQE_* are macros over enum bits: Swift does not import them.
static inline unsigned char CLiburing_IOSQE_IO_LINK(void) { return IOSQE_IO_LINK; }
static inline unsigned char CLiburing_IOSQE_BUFFER_SELECT(void) { return IOSQE_BUFFER_SELECT; }
static inline unsigned char CLiburing_IOSQE_CQE_SKIP_SUCCESS(void) { return IOSQE_CQE_SKIP_SUCCESS; }
static inline unsigned char CLiburing_IOSQE_FIXED_FILE(void) { return IOSQE_FIXED_FILE; }
static inline unsigned char CLiburing_IOSQE_IO_HARDLINK(void) { return IOSQE_IO_HARDLINK; }

// IORING_OP_MSG_RING with IORING_MSG_SEND_FD (kernel 6.0): installs the sender's direct
// descriptor `source_slot` into the target ring's file table at a slot the target
// allocates; the target's completion carries `target_data` and the slot as its result.
// liburing 2.3 has no helper for it.
static inline void CLiburing_prep_msg_ring_send_fd(struct io_uring_sqe *sqe, int target_ring_fd,
                                                   unsigned source_slot, unsigned long long target_data) {
    io_uring_prep_rw(IORING_OP_MSG_RING, sqe, target_ring_fd, (void *)(unsigned long)IORING_MSG_SEND_FD, 0, target_data);
    sqe->addr3 = source_slot;
    sqe->file_index = IORING_FILE_INDEX_ALLOC;
}

// CMSG_* are function-like macros: shims for passing descriptors with SCM_RIGHTS.
static inline size_t CLiburing_CMSG_SPACE(size_t len) { return CMSG_SPACE(len); }
static inline size_t CLiburing_CMSG_LEN(size_t len) { return CMSG_LEN(len); }
static inline struct cmsghdr *CLiburing_CMSG_FIRSTHDR(struct msghdr *m) { return CMSG_FIRSTHDR(m); }
static inline struct cmsghdr *CLiburing_CMSG_NXTHDR(struct msghdr *m, struct cmsghdr *c) { return CMSG_NXTHDR(m, c); }
static inline unsigned char *CLiburing_CMSG_DATA(struct cmsghdr *c) { return CMSG_DATA(c); }

// Ring setup flags from kernels newer than liburing 2.3's uapi copy may be missing.
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
static inline unsigned CLiburing_SETUP_SINGLE_ISSUER(void) { return IORING_SETUP_SINGLE_ISSUER; }
static inline unsigned CLiburing_SETUP_DEFER_TASKRUN(void) { return IORING_SETUP_DEFER_TASKRUN; }
static inline unsigned CLiburing_SETUP_COOP_TASKRUN(void) { return IORING_SETUP_COOP_TASKRUN; }
static inline unsigned CLiburing_SETUP_TASKRUN_FLAG(void) { return IORING_SETUP_TASKRUN_FLAG; }
static inline unsigned CLiburing_SETUP_SUBMIT_ALL(void) { return IORING_SETUP_SUBMIT_ALL; }

// Accept flags (sqe->ioprio) from kernel 6.10, newer than liburing 2.3's uapi copy.
// DONTWAIT: answer EAGAIN at once when nothing is queued, instead of waiting for a connection.
#ifndef IORING_ACCEPT_DONTWAIT
#define IORING_ACCEPT_DONTWAIT (1U << 1)
#endif
static inline unsigned short CLiburing_ACCEPT_DONTWAIT(void) { return IORING_ACCEPT_DONTWAIT; }

// memfd_create is declared only under _GNU_SOURCE, which must not be defined before the
// includes above (see the trap they avoid): call it through syscall(2).
static inline int CLiburing_memfd_create(const char *name, unsigned flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}
static inline unsigned CLiburing_MFD_CLOEXEC(void) { return 0x0001U; }

// pidfd_open (5.3) and pidfd_getfd (5.6): glibc 2.36 declares them only under _GNU_SOURCE
// (see the include trap above), so through syscall(2). pidfd_getfd needs ptrace access to
// the target: same user and dumpable, or CAP_SYS_PTRACE (and Yama's scope).
static inline int CLiburing_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
static inline int CLiburing_pidfd_getfd(int pidfd, int targetfd) { return (int)syscall(SYS_pidfd_getfd, pidfd, targetfd, 0); }

// posix_spawn_file_actions_addchdir_np (glibc 2.29) is declared only under _GNU_SOURCE
// (the same trap): defined in shim.c, which sets it.
#include <spawn.h>
int CLiburing_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path);

// prctl is variadic: Swift cannot call it.
static inline int CLiburing_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
}

// Dropping root (Privileges.drop): PR_SET_KEEPCAPS keeps the permitted capabilities across
// setuid, and capset(2), which glibc does not wrap (libcap does), then leaves exactly the
// capabilities of `mask` (bit n: capability n, n < 64) permitted and effective.
#include <linux/capability.h>
static inline int CLiburing_keep_capabilities(int keep) {
    return prctl(PR_SET_KEEPCAPS, (unsigned long)keep, 0UL, 0UL, 0UL);
}
static inline int CLiburing_capabilities_only(unsigned long long mask) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    data[0].effective = data[0].permitted = (unsigned)(mask & 0xffffffffu);
    data[1].effective = data[1].permitted = (unsigned)(mask >> 32);
    data[0].inheritable = data[1].inheritable = 0;
    return (int)syscall(SYS_capset, &header, data);
}
static inline int CLiburing_CAP_NET_BIND_SERVICE(void) { return CAP_NET_BIND_SERVICE; }
static inline int CLiburing_CAP_NET_ADMIN(void) { return CAP_NET_ADMIN; }

#endif
