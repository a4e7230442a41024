#!/bin/sh
# What privileges could a setuid binary or a capability give us?
cp /bin/sh ./suid-sh && chmod u+s ./suid-sh
grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
ls -l ./suid-sh
