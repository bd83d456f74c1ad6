#!/bin/sh
# A worker command that never registers with the scheduler.
exec sleep 1000
