// Which socket families can be created? A network namespace covers inet, not vsock (the hypervisor),
// netlink, packet or the rest.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

int main(void) {
  struct { const char* name; int family, type; } tries[] = {
      {"unix", AF_UNIX, SOCK_STREAM},     {"inet", AF_INET, SOCK_STREAM},       {"inet6", AF_INET6, SOCK_STREAM},
      {"vsock", AF_VSOCK, SOCK_STREAM},   {"netlink", AF_NETLINK, SOCK_RAW},    {"packet", AF_PACKET, SOCK_RAW},
      {"bluetooth", AF_BLUETOOTH, SOCK_STREAM}, {"alg", AF_ALG, SOCK_SEQPACKET}, {"family-99", 99, SOCK_STREAM},
  };
  for (unsigned i = 0; i < sizeof tries / sizeof tries[0]; ++i) {
    int fd = socket(tries[i].family, tries[i].type, 0);
    printf("%s %s\n", tries[i].name, fd >= 0 ? "created" : strerror(errno));
  }
  int pair[2];
  printf("socketpair-inet %s\n", socketpair(AF_INET, SOCK_STREAM, 0, pair) == 0 ? "created" : strerror(errno));
  return 0;
}
