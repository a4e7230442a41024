#!/bin/sh
# Write into system directories, the root, and a read-only bind.
for target in /usr/pwned /etc/pwned /pwned /attacks/pwned "$OUTSIDE_DIR/pwned"; do
  echo pwned > "$target" 2>/dev/null && echo "WROTE $target"
done
true
