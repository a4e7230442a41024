#!/bin/sh
# Ignore SIGTERM and SIGINT and hang.
trap '' TERM INT HUP
sleep 302
