// Attach to a sibling process with ptrace; prints BLOCKED when the kernel (seccomp) refuses.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  pid_t child = fork();
  if (child == 0) {
    pause();
    return 0;
  }
  long rc = ptrace(PTRACE_ATTACH, child, 0, 0);
  int err = errno;
  kill(child, SIGKILL);
  waitpid(child, 0, 0);
  if (rc == 0) {
    puts("ATTACHED");
    return 1;
  }
  printf("BLOCKED %s\n", strerror(err));
  return 0;
}
