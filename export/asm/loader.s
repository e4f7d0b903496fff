@ The bodies of the app's MicroPython asm_thumb functions (firmware/lo.py and
@ firmware/le.py embed them as data() words: python -m
@ microbit_nn.export.regen writes them, a test checks they are current).
@ An asm_thumb function gets its arguments in r0-r3, returns r0, and saves
@ r4-r7 and lr itself: a body falls off its end.

@ rv(R, i, j) reverses R[i:j] (int16) in place: the app rotates its ring with
@ three of them before each prediction (~8 instructions a swap, no heap)
.body rv
rv: lsls r1, r1, #1; lsls r2, r2, #1; adds r1, r0, r1; adds r2, r0, r2
rv_loop: subs r2, #2; cmp r1, r2; bhs rv_done; ldrh r3, [r1, #0]; ldrh r0, [r2, #0]
strh r0, [r1, #0]; strh r3, [r2, #0]; adds r1, #2; b rv_loop; rv_done: movs r0, #0

@ ex(a) runs the call record at address a: r0-r2 its x w y, r3 its
@ parameter words, then blx its routine (the address, +1 for Thumb); returns
@ the routine's r0 (the class for argmax, the confidence for confidence)
.body ex
ex: mov r3, r0; ldr r4, [r3, #0]; ldr r0, [r3, #4]; ldr r1, [r3, #8]; ldr r2, [r3, #12]
adds r3, #16; blx r4

@ rl(T, A) relocates the pieces once, from the list at the start of T (the
@ buffers): a count, then per entry where a word is and its value, both
@ v = piece << 16 | offset, meaning A[v >> 16] + (v & 65535), A the
@ addresses of R, y and the pieces
.body rl
rl: mov r5, r0; ldr r4, [r5, #0]
rl_loop: subs r4, #1; bmi rl_done; ldr r6, [r5, #4]; ldr r7, [r5, #8]; adds r5, #8
lsrs r3, r7, #16; lsls r3, r3, #2; ldr r3, [r1, r3]; uxth r7, r7; adds r3, r3, r7
lsrs r2, r6, #16; lsls r2, r2, #2; ldr r2, [r1, r2]; uxth r6, r6; adds r2, r2, r6
str r3, [r2, #0]; b rl_loop; rl_done:

@ ad(b): the address of b's items (MicroPython passes a buffer's address)
.body ad
ad: mov r0, r0
