#!/bin/sh
# Create device files.
mknod ./null c 1 3 2>&1 && echo "MADE char device"
mknod ./disk b 8 0 2>&1 && echo "MADE block device"
true
