#!/bin/sh
# Leave a process running after the main one exits, in a new session too. The odd durations are markers the
# test looks for in /proc, chosen so that no other process on the machine is likely to match them.
sleep 31415 &
setsid sleep 31416 &
echo LEFT-BEHIND
