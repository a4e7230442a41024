#!/bin/sh
# Fill the workspace with many files, each well under the per-file limit: 4 GiB in all.
i=0
while [ $i -lt 512 ]; do
  head -c 8388608 /dev/zero > "f$i" || { echo "write $i failed"; exit 1; }
  i=$((i + 1))
done
echo "WROTE-ALL"
