#!/bin/sh
# 200,000 directories: each costs the host an inode, however small.
python3 -c '
import os
for i in range(200000):
    os.mkdir("d%d" % i)
print("MADE-ALL")
'
