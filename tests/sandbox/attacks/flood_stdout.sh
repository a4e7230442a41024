#!/bin/sh
# A gigabyte of stdout.
head -c 1000000000 /dev/zero
