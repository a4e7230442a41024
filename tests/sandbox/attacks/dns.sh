#!/bin/sh
# Resolve a public name.
getent hosts example.com && echo RESOLVED
