@ dense_conv: one routine for conv1d and dense layers (a dense is a conv with
@ length = size = stride = length_out = 1). Results are those of
@ firmware/qk.py's conv and dense, bit for bit; docs/kernels.md explains the
@ method and the measured cost (4.75 instructions per MAC).
@
@ Entered with r0 = x (int8, time-major [length, channels_in]), r1 = w (int8
@ [channels_out, size, channels_in], or the addresses of its groups of
@ DC_ROWS_PER_GROUP filters), r2 = y (int8 [length_out, channels_out]),
@ r3 = P, the parameter block below (int32 words; export/engine.py fills it by
@ these names). The routine keeps its state in the block's last 12 words.
@
@ Per step t: the taps j0..j1 inside x are one contiguous run of n = (j1-j0)*ci
@ terms in x and in every filter. The dot product keeps acc in r12 so all
@ eight low registers address memory: r2/r3 walk x/w four bytes a turn and
@ r4-r7 hold the row's end + 0..3, so [r2,rK] and [r3,rK] reach all eight
@ bytes without other adds (4 instructions a MAC, 4.75 with the loop).
@ r3 runs from -n4 (n rounded up to 4) to 0; n % 4 is handled by entering
@ the unrolled body part way, the skipped stages lying before the start.

@ the parameters
.equ DC_LENGTH, 0
.equ DC_CHANNELS_IN, 4
.equ DC_SIZE, 8
.equ DC_STRIDE, 12
.equ DC_PAD, 16
.equ DC_CHANNELS_OUT, 20
.equ DC_LENGTH_OUT, 24
.equ DC_LO, 28
.equ DC_BIAS, 32
.equ DC_MULT, 36
.equ DC_SHIFT, 40
@ 0: w is the weights; else w is a list of addresses, each of a group of this
@ many filters (the V1 keeps them in flash chunks: export/engine.py)
.equ DC_ROWS_PER_GROUP, 44
@ the state: x, w, y, p0 (first tap of the step), steps left, output o, -n4,
@ x of the step's run - n4, w of the output's run, size * channels_in, n, n % 4,
@ j0 * ci, the next group's list entry, filters left in the group
.equ DC_X, 48
.equ DC_W, 52
.equ DC_Y, 56
.equ DC_P0, 60
.equ DC_STEPS_LEFT, 64
.equ DC_O, 68
.equ DC_MINUS_N4, 72
.equ DC_XS, 76
.equ DC_WR, 80
.equ DC_ROW, 84
.equ DC_N, 88
.equ DC_N_MOD4, 92
.equ DC_TAP0, 96
.equ DC_NEXT_GROUP, 100
.equ DC_ROWS_LEFT, 104
.equ DC_WORDS, 27

@ set_tables(P, b, m, s): the body of firmware/qa.py's _a, which stores the
@ table addresses into P for the Python-callable dense/conv
.body set_tables
set_tables: str r1, [r0, #DC_BIAS]; str r2, [r0, #DC_MULT]; str r3, [r0, #DC_SHIFT]

.global dense_conv
dense_conv:
@ keep P on the stack; save x, w, y; return unless co > 0 and Lo > 0; k*ci; p0 = -pd
push {r3}; str r0, [r3, #DC_X]; str r1, [r3, #DC_W]; str r2, [r3, #DC_Y]
ldr r4, [r3, #DC_CHANNELS_OUT]; ldr r5, [r3, #DC_LENGTH_OUT]; muls r5, r4, r5; cmp r5, #0; bgt setup; b done
setup: ldr r4, [r3, #DC_CHANNELS_IN]; ldr r5, [r3, #DC_SIZE]; muls r5, r4, r5; str r5, [r3, #DC_ROW]
ldr r4, [r3, #DC_PAD]; rsbs r4, r4, #0; str r4, [r3, #DC_P0]; ldr r4, [r3, #DC_LENGTH_OUT]
str r4, [r3, #DC_STEPS_LEFT]

@ each step t: j0 = max(0, -p0), j1 = min(k, L - p0), n = max(0, j1 - j0) * ci
step: ldr r7, [sp, #0]; ldr r4, [r7, #DC_STEPS_LEFT]; subs r4, r4, #1; str r4, [r7, #DC_STEPS_LEFT]
ldr r0, [r7, #DC_P0]; rsbs r1, r0, #0; cmp r1, #0; bge taps_end; movs r1, #0
taps_end: ldr r2, [r7, #DC_LENGTH]; subs r2, r2, r0; ldr r3, [r7, #DC_SIZE]; cmp r2, r3; ble taps_count
mov r2, r3; taps_count: subs r2, r2, r1; bgt taps_known; movs r2, #0; taps_known: ldr r3, [r7, #DC_CHANNELS_IN]
muls r2, r3, r2; str r2, [r7, #DC_N]

@ n % 4, -n4, xs - n4 with xs = x + (p0 + j0) * ci, wr = w + j0 * ci (w: the
@ first group's address when in groups); p0 += st; o = 0
rsbs r4, r2, #0; movs r5, #3; ands r5, r4; str r5, [r7, #DC_N_MOD4]; subs r4, r4, r5
str r4, [r7, #DC_MINUS_N4]; muls r1, r3, r1; muls r0, r3, r0; adds r0, r0, r1
ldr r5, [r7, #DC_X]; adds r0, r0, r5; adds r0, r0, r4; str r0, [r7, #DC_XS]
ldr r5, [r7, #DC_W]; ldr r4, [r7, #DC_ROWS_PER_GROUP]; str r4, [r7, #DC_ROWS_LEFT]; cmp r4, #0
beq first_row; str r1, [r7, #DC_TAP0]; adds r4, r5, #4; str r4, [r7, #DC_NEXT_GROUP]; ldr r5, [r5, #0]
first_row: adds r1, r1, r5; str r1, [r7, #DC_WR]; ldr r0, [r7, #DC_P0]
ldr r5, [r7, #DC_STRIDE]; adds r0, r0, r5; str r0, [r7, #DC_P0]; movs r0, #0
str r0, [r7, #DC_O]

@ each output o: acc = b[o]; next wr += k*ci, or, after a group's last filter,
@ the next group's address + j0 * ci; set up r2-r7 and enter the body at n % 4
output: ldr r0, [r7, #DC_O]; lsls r1, r0, #2; ldr r2, [r7, #DC_BIAS]; ldr r2, [r2, r1]
mov r12, r2; ldr r5, [r7, #DC_WR]; ldr r2, [r7, #DC_ROW]; adds r2, r5, r2
ldr r4, [r7, #DC_ROWS_LEFT]; cmp r4, #0; beq next_row; subs r4, r4, #1; str r4, [r7, #DC_ROWS_LEFT]
bne next_row; ldr r4, [r7, #DC_ROWS_PER_GROUP]; str r4, [r7, #DC_ROWS_LEFT]; ldr r4, [r7, #DC_NEXT_GROUP]
ldr r2, [r4, #0]; adds r4, r4, #4; str r4, [r7, #DC_NEXT_GROUP]; ldr r4, [r7, #DC_TAP0]; adds r2, r2, r4
next_row: str r2, [r7, #DC_WR]; ldr r3, [r7, #DC_MINUS_N4]; cmp r3, #0; beq requant; ldr r6, [r7, #DC_N]
adds r4, r5, r6; ldr r2, [r7, #DC_XS]; subs r2, r2, r5; ldr r1, [r7, #DC_N_MOD4]
adds r5, r4, #1; adds r6, r4, #2; adds r7, r4, #3; cmp r1, #2; beq mac2; bhi mac3
cmp r1, #1; beq mac1

@ the dot product, unrolled 4x
mac0: ldrsb r0, [r2, r4]; ldrsb r1, [r3, r4]; muls r0, r1, r0; add r12, r0
mac1: ldrsb r0, [r2, r5]; ldrsb r1, [r3, r5]; muls r0, r1, r0; add r12, r0
mac2: ldrsb r0, [r2, r6]; ldrsb r1, [r3, r6]; muls r0, r1, r0; add r12, r0
mac3: ldrsb r0, [r2, r7]; ldrsb r1, [r3, r7]; muls r0, r1, r0; add r12, r0
adds r2, #4; adds r3, #4; bne mac0

@ y = clamp((acc * m[o] + (1 << (s[o] - 1))) >> s[o], lo, 127)
requant: ldr r7, [sp, #0]; ldr r0, [r7, #DC_O]; lsls r1, r0, #2; ldr r2, [r7, #DC_MULT]
ldr r2, [r2, r1]; mov r3, r12; muls r3, r2, r3; ldr r2, [r7, #DC_SHIFT]
ldr r2, [r2, r1]; subs r4, r2, #1; movs r5, #1; lsls r5, r4; adds r3, r3, r5
asrs r3, r2; cmp r3, #127; ble clamp_low; movs r3, #127; clamp_low: ldr r4, [r7, #DC_LO]; cmp r3, r4
bge store; mov r3, r4
@ store, next o, next step, return
store: ldr r5, [r7, #DC_Y]; strb r3, [r5, #0]; adds r5, #1; str r5, [r7, #DC_Y]
adds r0, #1; str r0, [r7, #DC_O]; ldr r1, [r7, #DC_CHANNELS_OUT]; cmp r0, r1; blt output
ldr r4, [r7, #DC_STEPS_LEFT]; cmp r4, #0; ble done; b step; done: pop {r1}
bx lr
