// Talks to the one Unix socket the sandbox exposes (the model gateway, in real runs): sends "ping",
// prints the reply. Not an attack: the one sanctioned way out.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
  const char* path = getenv("GATEWAY_SOCKET");
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    perror("connect");
    return 1;
  }
  if (write(fd, "ping", 4) != 4) return 1;
  char buf[16] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  printf("reply=%.*s\n", (int)(n > 0 ? n : 0), buf);
  return 0;
}
