// The seccomp filter every bwrap sandbox runs under. Internal to sandbox/.
#pragma once

#include "base/status.h"
#include "base/unique_fd.h"

namespace lineage {

// Builds the filter with libseccomp and returns it as BPF in a sealed-off memfd (close-on-exec; the
// child clears the flag) for `bwrap --seccomp FD`. Denied with EPERM: ptrace, process_vm_readv/writev,
// the io_uring calls, bpf, perf_event_open, keyctl/add_key/request_key, the mount family, unshare/setns
// and clone with namespace flags, kexec, module loading, reboot, swap, open_by_handle_at, userfaultfd,
// chroot, pidfd_getfd, process_madvise, kcmp, and the TIOCSTI/TIOCLINUX ioctls matched on their low 32
// bits. socket() of any family but AF_UNIX, AF_INET and AF_INET6 (socketpair: AF_UNIX) fails with
// EAFNOSUPPORT. clone3 gets ENOSYS (its flags
// cannot be inspected) so libc falls back to clone. System calls of other architectures kill the process.
Result<UniqueFd> BuildSeccompFilter();

}  // namespace lineage
