// A child attacks its parent: writes its memory through /proc/PID/mem and process_vm_writev, takes its
// descriptors with pidfd_getfd, compares them with kcmp, and advises on its memory with process_madvise.
// Each line says whether the call was refused.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile char secret[64] = "parent-memory";

static void report(const char* what, long rc) {
  printf("%s %s\n", what, rc < 0 ? "refused" : "ALLOWED");
}

int main(void) {
  pid_t parent = getpid();
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", parent);
    int mem = open(path, O_RDWR);
    long rc = mem;
    if (mem >= 0) rc = pwrite(mem, "PWNED", 5, (off_t)(unsigned long)secret);
    report("proc_mem_write", rc);
    char text[] = "PWNED";
    struct iovec local = {text, 5}, remote = {(void*)secret, 5};
    report("process_vm_writev", syscall(SYS_process_vm_writev, parent, &local, 1, &remote, 1, 0));
    int pidfd = (int)syscall(SYS_pidfd_open, parent, 0);
    report("pidfd_getfd", pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, 1, 0));
    report("kcmp", syscall(SYS_kcmp, getpid(), parent, 0 /* KCMP_FILE */, 1, 1));
    struct iovec range = {(void*)secret, 4096};
    report("process_madvise", pidfd < 0 ? -1 : syscall(SYS_process_madvise, pidfd, &range, 1, 4 /* MADV_DONTNEED */, 0));
    fflush(stdout);
    _exit(0);
  }
  waitpid(child, NULL, 0);
  printf("parent memory: %s\n", (const char*)secret);
  return 0;
}
