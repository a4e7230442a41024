#!/bin/sh
# Grow without bound.
x=a
while :; do x="$x$x"; done
