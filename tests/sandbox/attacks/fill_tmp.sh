#!/bin/sh
# Fill the private /tmp.
head -c 100000000 /dev/zero > /tmp/fill
echo "status $?"
