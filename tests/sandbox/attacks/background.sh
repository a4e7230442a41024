#!/bin/sh
# Leave a process running after the main one exits, in a new session too.
sleep 300 &
setsid sleep 301 &
echo LEFT-BEHIND
