// Lists the descriptors this process started with, and tries to climb out of the sandbox through any
// directory among them (openat(fd, "../../..") reaches the host's tree when a host directory leaked in).
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 1;
  printf("fds:");
  struct dirent* e;
  int escaped = 0;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd == dirfd(dir)) continue;
    printf(" %d", fd);
    if (fd > 2 && openat(fd, "../../../../etc/hostname", O_RDONLY) >= 0) escaped = 1;
  }
  printf("\n");
  if (escaped) printf("ESCAPED through an inherited descriptor\n");
  closedir(dir);
  return 0;
}
