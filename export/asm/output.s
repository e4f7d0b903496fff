@ The output stage: the class (argmax) and the confidence of the logits;
@ ex() returns r0, so the app gets both from the engine.
@ How routines are entered, and the requantization: README.md here.

.equ AM_N, 0
.global argmax
@ amax(y int8[n]; P: n): returns the index of the first largest y (as qk.amax)
argmax: ldr r4, [r3, #AM_N]; movs r5, #0; ldrsb r7, [r0, r5]; movs r6, #1
argmax_loop: cmp r6, r4; bge argmax_done; ldrsb r1, [r0, r6]; cmp r1, r7; ble argmax_next; mov r7, r1; mov r5, r6
argmax_next: adds r6, #1; b argmax_loop
argmax_done: mov r0, r5; bx lr

.equ CF_N, 0
.equ CF_TABLE_SIZE, 4
.global confidence
@ conf(y int8[n], E int16[m]; P: n, m): returns 25600 // a, a the sum of E[k - v]
@ over the y = v with k - v < m, k the largest y (as qk.conf; 0 if a were 0)
confidence: ldr r4, [r3, #CF_N]; ldr r5, [r3, #CF_TABLE_SIZE]; movs r6, #0; ldrsb r7, [r0, r6]; movs r6, #1
confidence_max_loop: cmp r6, r4; bge confidence_sum; ldrsb r2, [r0, r6]; cmp r2, r7; ble confidence_max_next; mov r7, r2
confidence_max_next: adds r6, #1; b confidence_max_loop
confidence_sum: movs r6, #0; movs r3, #0
confidence_sum_loop: cmp r6, r4; bge confidence_divide; ldrsb r2, [r0, r6]; subs r2, r7, r2; cmp r2, r5; bge confidence_sum_next
lsls r2, r2, #1; ldrsh r2, [r1, r2]; adds r3, r3, r2
confidence_sum_next: adds r6, #1; b confidence_sum_loop
confidence_divide: movs r0, #100; lsls r0, r0, #8; movs r2, #0; cmp r3, #0; ble confidence_done
confidence_divide_loop: cmp r0, r3; blo confidence_done; subs r0, r0, r3; adds r2, #1; b confidence_divide_loop
confidence_done: mov r0, r2; bx lr
