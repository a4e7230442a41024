#!/bin/sh
# Write one huge file into the workspace.
head -c 100000000 /dev/zero > ./huge
