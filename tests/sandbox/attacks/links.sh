#!/bin/sh
# Leave links in the workspace for the host to follow later, and try hard links to host files.
ln -s "$SECRET_FILE" leak-symlink
ln -s /etc/passwd passwd-symlink
ln "$SECRET_FILE" leak-hardlink 2>/dev/null && echo "HARDLINKED secret"
echo data > own-file && ln own-file own-hardlink
true
