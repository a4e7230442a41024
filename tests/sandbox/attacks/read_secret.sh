#!/bin/sh
# Read a host file outside the binds, the shadow file, and the lineage archive.
cat "$SECRET_FILE" /etc/shadow "$ARCHIVE_DB" 2>&1
ls /root /home 2>&1
