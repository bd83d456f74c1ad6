/*
 * console_assets: the web console's files, built into the binary.
 *
 * The assembler copies each file's bytes as they are (.incbin, paths from
 * the top of the tree, where make runs) into read-only data, followed by a
 * NUL, so C sees each as a string: NAME is its first byte and NAME_end the
 * NUL.  Makefile rebuilds this object when a file in console/ changes.
 */

	.include "src/asset.inc"

	.section .rodata
	asset	console_index_html, "console/index.html"
	asset	console_css, "console/console.css"
	asset	console_js, "console/console.js"

	/* no executable stack */
	.section .note.GNU-stack, "", %progbits
