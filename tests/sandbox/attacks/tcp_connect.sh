#!/bin/bash
# TCP to $TARGET_HOST:$TARGET_PORT (an external address, or a service on the host's loopback).
exec 3<>"/dev/tcp/$TARGET_HOST/$TARGET_PORT" && echo CONNECTED
