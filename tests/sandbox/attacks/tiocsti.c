// Push a character into the controlling terminal's input (TIOCSTI), plainly and with junk in the high
// 32 bits of the request (CVE-2019-10063). seccomp answers EPERM; without it the kernel would say ENOTTY
// on a non-terminal, or inject.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  char c = 'x';
  long plain = syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI, &c);
  int plain_err = errno;
  long junk = syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1ULL << 32), &c);
  int junk_err = errno;
  printf("plain=%ld %s\njunk=%ld %s\n", plain, strerror(plain_err), junk, strerror(junk_err));
  return 0;
}
