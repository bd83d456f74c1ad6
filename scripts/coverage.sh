#!/bin/sh
# The controller's lines that its unit tests reach (gcov): builds the
# unit tests with --coverage in build/cov, runs test_ctl, test_forker and
# the backends' tests, and prints one line per controller file and the
# total.
set -e
rm -rf build/cov
make -s B=build/cov OPT='-O0 --coverage' build/cov/test_ctl \
    build/cov/test_forker build/cov/test_backend_local \
    build/cov/test_backend_slurm >/dev/null
build/cov/test_ctl >/dev/null 2>&1
build/cov/test_forker >/dev/null 2>&1
build/cov/test_backend_local >/dev/null 2>&1
build/cov/test_backend_slurm >/dev/null 2>&1
for f in ctl instance worker reclaim restore sched forker ctl_json \
    backend_local backend_slurm; do
	gcov -n -o build/cov/obj src/$f.c 2>/dev/null |
	    awk -v f="src/$f.c" '$0 ~ "File .src/" { want = index($0, f) > 0 }
		want && /Lines executed/ { sub("Lines executed:", ""); print f ": " $0; want = 0 }'
done | awk '{ print; split($2, p, "%"); n = $4; hit += p[1] * n / 100; all += n }
    END { printf "total: %.1f%% of %d lines\n", 100 * hit / all, all }'
