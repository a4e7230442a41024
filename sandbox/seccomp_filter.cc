#include "sandbox/seccomp_filter.h"

#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace lineage {
namespace {

// Names rather than SCMP_SYS() so that a call unknown to this libseccomp is skipped, not a build error.
constexpr const char* kDenied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "mount", "umount", "umount2", "pivot_root",
    "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
    "open_by_handle_at", "name_to_handle_at", "userfaultfd", "chroot", "acct", "quotactl", "syslog", "uselib",
    "lookup_dcookie", "vhost", "nfsservctl", "pidfd_getfd", "process_madvise", "kcmp",
};

// The only socket families an agent needs: Unix sockets (the gateway) and inet (loopback inside its own
// network namespace). AF_VSOCK, AF_NETLINK, AF_PACKET and the rest are refused: a network namespace does not
// cover every family (vsock reaches the hypervisor).
constexpr int kAllowedSocketFamilies[] = {AF_UNIX, AF_INET, AF_INET6};

constexpr std::uint64_t kNamespaceFlags[] = {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP};

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

Status Fail(const char* what, int rc) {
  return Status::Internal(std::string("seccomp: ") + what + ": " + std::strerror(-rc));
}

}  // namespace

Result<UniqueFd> BuildSeccompFilter() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Status::Internal("seccomp: cannot initialise libseccomp");
  int rc = 0;
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if ((rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0)) != 0) return Fail(name, rc);
  }
  for (std::uint64_t flag : kNamespaceFlags) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return Fail("clone", rc);
  }
  // socket(): anything but the allowed families fails as an unsupported family would.
  for (int family = 0; family < AF_MAX; ++family) {
    if (std::find(std::begin(kAllowedSocketFamilies), std::end(kAllowedSocketFamilies), family) !=
        std::end(kAllowedSocketFamilies)) {
      continue;
    }
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family)));
    if (rc != 0) return Fail("socket", rc);
  }
  rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                        SCMP_A0(SCMP_CMP_GE, static_cast<scmp_datum_t>(AF_MAX)));
  if (rc != 0) return Fail("socket", rc);
  rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                        SCMP_A0(SCMP_CMP_NE, static_cast<scmp_datum_t>(AF_UNIX)));
  if (rc != 0) return Fail("socketpair", rc);
  int clone3 = seccomp_syscall_resolve_name("clone3");
  if (clone3 != __NR_SCMP_ERROR && (rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), clone3, 0)) != 0) {
    return Fail("clone3", rc);
  }
  // CVE-2019-10063: junk in the high 32 bits of the request must not slip past, so mask them off.
  for (unsigned long request : {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, request));
    if (rc != 0) return Fail("ioctl", rc);
  }

  UniqueFd fd(memfd_create("lineage-seccomp", MFD_CLOEXEC));
  if (!fd.valid()) return Status::IOError(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  if ((rc = seccomp_export_bpf(ctx.get(), fd.get())) != 0) return Fail("export", rc);
  if (lseek(fd.get(), 0, SEEK_SET) != 0) return Status::IOError("seccomp: cannot rewind the filter");
  return fd;
}

}  // namespace lineage
