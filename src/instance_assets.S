/*
 * instance_assets: files an instance's processes need, built into the
 * binary the same way as console_assets.S (bytes, then a NUL): the
 * scheduler's preload (src/py/edask_preload.py), the worker forker
 * (src/py/edask_forker.py) and the examples a
 * notebook server's folder starts with.  Makefile rebuilds this object
 * when one of them changes.
 */

	.include "src/asset.inc"

	.section .rodata
	asset	sched_preload_py, "src/py/edask_preload.py"
	asset	worker_forker_py, "src/py/edask_forker.py"
	asset	nb_example_ipynb, "examples/dask_xgb_training.ipynb"
	asset	nb_example_train, "examples/xgb_train.py"
	asset	nb_example_flights, "examples/flights.py"

	/* no executable stack */
	.section .note.GNU-stack, "", %progbits
