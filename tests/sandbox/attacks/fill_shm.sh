#!/bin/sh
# Fill /dev/shm, which lives in memory.
head -c 100000000 /dev/zero > /dev/shm/fill
echo "status $?"
