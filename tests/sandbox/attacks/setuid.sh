#!/bin/sh
# Make setuid and setgid files and directories for the host to find later, and stay alive a moment with a
# marker process so that the test can see, from the host, whose uid the sandbox runs as.
cp /usr/bin/env ./suid-env && chmod 6755 ./suid-env
mkdir -p sgid-dir && chmod 2777 sgid-dir
cp /usr/bin/env sgid-dir/inner && chmod 4755 sgid-dir/inner
sleep 31417 &
sleep 1
ls -l ./suid-env
