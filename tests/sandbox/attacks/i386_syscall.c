// Makes a 32-bit (i386) system call from a 64-bit process with `int $0x80`, the classic way around a
// seccomp filter written for x86-64 only. Prints the pid it got; the sandbox must kill it first.
#include <stdio.h>

int main(void) {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");  // i386 getpid
  printf("i386 syscall returned %ld\n", ret);
#else
  puts("not x86-64");
#endif
  return 0;
}
