@ features: the 24 integer window features (per axis x, y, z: max, min, mean,
@ std, peaks, zcross, rms, mabs), the same results and in-place clipping as
@ firmware/ft.py, bit for bit (docs/quantization.md, section 5).
@
@ Entered with r0 = buf (int16 [n, 3], clipped in place to +-2048), r1 = n,
@ r2 = out (int32 [24]); returns r0 = 0, or 1 without touching memory unless
@ 1 <= n <= 255. Stack frame: 0 out (of this axis), 4 buf + 2c + 6n (c the
@ axis), 8 -6n (index of sample 0), 12 axes left, 16 n. Samples are read as
@ [base, i] with i stepping by 6 up to 0. lr is a register here: saved first.
@ Blank lines split the code into blocks of < 64 halfwords: a firmware file
@ embeds each as one data() call (one call of 183 words broke the V1's heap).

.global features
features: push {lr}
@ subroutines, changing only r0, r2, r3 (and lr): div30 r0 //= r1 for
@ 0 <= r0 < 2**30, div20 the same for r0 < 2**20, isqrt r0 = isqrt(r0)
b start
@ shift r0's bits into the remainder r2, quotient bits into r0
div30: lsls r0, r0, #2; movs r3, #30; b div_start; div20: lsls r0, r0, #12; movs r3, #20; div_start: movs r2, #0
div_loop: adds r0, r0, r0; adcs r2, r2; cmp r2, r1; blo div_bit; subs r2, r2, r1; adds r0, #1
div_bit: adds r0, r0, r0; adcs r2, r2; cmp r2, r1; blo div_next; subs r2, r2, r1; adds r0, #1
div_next: subs r3, #2; bne div_loop; bx lr
@ bit by bit as ft.isq (r2 root, r3 bit), from bit 1 << 28
isqrt: movs r2, #0; movs r3, #1; lsls r3, r3, #28
isqrt_loop: adds r2, r2, r3; cmp r0, r2; blo isqrt_next; subs r0, r0, r2; adds r2, r2, r3; adds r2, r2, r3
isqrt_next: subs r2, r2, r3; lsrs r2, r2, #1; lsrs r3, r3, #2; bne isqrt_loop; mov r0, r2; bx lr

@ check n, set up the frame
start: subs r3, r1, #1; cmp r3, #254; bls frame; movs r0, #1; b refuse
frame: sub sp, #24; str r2, [sp, #0]; str r1, [sp, #16]; movs r3, #6; muls r3, r1, r3
adds r0, r0, r3; str r0, [sp, #4]; rsbs r3, r3, #0; str r3, [sp, #8]
movs r3, #3; str r3, [sp, #12]

@ each axis, pass 1 (r0 base, r1 index, r2 x, r7 2048): clip, max r4,
@ min r5, sum r6, sum of squares r12, sum of the negative x lr
axis: ldr r0, [sp, #4]; ldr r1, [sp, #8]; movs r7, #1; lsls r7, r7, #11; rsbs r4, r7, #0
mov r5, r7; movs r6, #0; movs r3, #0; mov r12, r3; mov lr, r3; b sample
@ a new max or min: clip x there (as ft: any x > 2048 is a new max)
new_max: cmp r2, r7; ble max_set; mov r2, r7; strh r2, [r0, r1]; max_set: mov r4, r2; b check_min
new_min: cmn r2, r7; bge min_set; rsbs r2, r7, #0; strh r2, [r0, r1]; min_set: mov r5, r2; b accumulate
sample: ldrsh r2, [r0, r1]; cmp r2, r4; bgt new_max; check_min: cmp r2, r5; blt new_min
accumulate: adds r6, r6, r2; mov r3, r2; muls r3, r2, r3; add r12, r3
asrs r3, r2, #31; ands r3, r2; add lr, r3; adds r1, #6; bne sample

@ out: max, min; mabs = (sum - 2 neg + h) // n with h = n >> 1 (r7);
@ rms = isqrt(squares // n), squares kept in r4; mean m (r5) =
@ (sum + h + 2048 n) // n - 2048, a numerator >= 0; std =
@ isqrt((squares - m * (2 sum - n m)) // n), the identity of ft.py
ldr r3, [sp, #0]; str r4, [r3, #0]; str r5, [r3, #4]; mov r4, r12; mov r5, lr
ldr r1, [sp, #16]; lsrs r7, r1, #1; subs r0, r6, r5; subs r0, r0, r5; adds r0, r0, r7
bl div20; ldr r3, [sp, #0]; str r0, [r3, #28]
mov r0, r4; bl div30; bl isqrt; ldr r3, [sp, #0]; str r0, [r3, #24]
movs r5, #1; lsls r5, r5, #11; mov r0, r5; muls r0, r1, r0; adds r0, r0, r6
adds r0, r0, r7; bl div20; subs r5, r0, r5; ldr r3, [sp, #0]; str r5, [r3, #8]
mov r0, r5; muls r0, r1, r0; subs r0, r6, r0; adds r0, r0, r6; muls r0, r5, r0
subs r0, r4, r0; bl div30; bl isqrt; ldr r3, [sp, #0]; str r0, [r3, #12]

@ pass 2 on d = x - m (r2 now, r3 before, r4 before that), std r6:
@ zcross r12 += sign bit of (d ^ d before), peaks lr
mov r6, r0; ldr r0, [sp, #4]; ldr r1, [sp, #8]; ldrsh r3, [r0, r1]; subs r3, r3, r5
mov r4, r3; movs r2, #0; mov r12, r2; mov lr, r2; adds r1, #6; beq axis_done; b pass2
@ a peak: d before > std, a strict rise into it, no rise after
peak: cmp r3, r4; ble pass2_next; cmp r3, r2; blt pass2_next; mov r7, lr; adds r7, #1; mov lr, r7; b pass2_next
pass2: ldrsh r2, [r0, r1]; subs r2, r2, r5; mov r7, r2; eors r7, r3; lsrs r7, r7, #31
add r12, r7; cmp r3, r6; bgt peak; pass2_next: mov r4, r3; mov r3, r2; adds r1, #6; bne pass2

@ out: peaks, zcross; next axis; return 0
axis_done: ldr r3, [sp, #0]; mov r0, lr; str r0, [r3, #16]; mov r0, r12; str r0, [r3, #20]
adds r3, #32; str r3, [sp, #0]; ldr r0, [sp, #4]; adds r0, #2; str r0, [sp, #4]
ldr r3, [sp, #12]; subs r3, #1; str r3, [sp, #12]; beq done; b axis
done: add sp, #24; movs r0, #0; refuse: pop {pc}
