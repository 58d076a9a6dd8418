/* The restorer, built from pie/ as a flat binary, carried inside libckpt. */
	.section .rodata
	.balign 4096
	.globl restorer_blob
	.globl restorer_blob_end
restorer_blob:
	.incbin "restorer.bin"
restorer_blob_end:
	.section .note.GNU-stack, "", @progbits
