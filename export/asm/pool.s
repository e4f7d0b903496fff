@ Pooling: global max/average over all steps, max/average over windows.
@ How routines are entered, and the requantization: README.md here.

.equ GMP_LENGTH, 0
.equ GMP_CHANNELS, 4
.global global_max_pool
@ gmp(x int8[L*c], -, y int8[c]; P: L, c): y[o] = max(-128, x[t*c + o] for t < L)
global_max_pool: ldr r4, [r3, #GMP_LENGTH]; ldr r5, [r3, #GMP_CHANNELS]; movs r6, #0; cmp r5, #0; ble global_max_pool_done
global_max_pool_channel: adds r1, r0, r6; movs r3, #127; mvns r3, r3; mov r12, r4; cmp r4, #0; ble global_max_pool_store
global_max_pool_loop: movs r7, #0; ldrsb r7, [r1, r7]; cmp r7, r3; ble global_max_pool_next; mov r3, r7
global_max_pool_next: adds r1, r1, r5; mov r7, r12; subs r7, #1; mov r12, r7; bne global_max_pool_loop
global_max_pool_store: strb r3, [r2, r6]; adds r6, #1; cmp r6, r5; blt global_max_pool_channel
global_max_pool_done: bx lr

.equ GAP_LENGTH, 0
.equ GAP_CHANNELS, 4
.equ GAP_MULT, 8
.equ GAP_SHIFT, 12
.global global_avg_pool
@ gap(x int8[L*c], -, y int8[c]; P: L, c, m, s):
@ y[o] = clamp(rq(sum(x[t*c + o] for t < L), m, s), -128, 127)
global_avg_pool: push {r3}; ldr r4, [r3, #GAP_LENGTH]; ldr r5, [r3, #GAP_CHANNELS]; movs r6, #0; cmp r5, #0; ble global_avg_pool_done
global_avg_pool_channel: adds r1, r0, r6; mov r7, r4; muls r7, r5, r7; adds r7, r7, r1; mov r12, r7; movs r3, #0
global_avg_pool_loop: cmp r1, r12; bhs global_avg_pool_requant; movs r7, #0; ldrsb r7, [r1, r7]; adds r3, r3, r7; adds r1, r1, r5; b global_avg_pool_loop
global_avg_pool_requant: ldr r7, [sp, #0]; ldr r1, [r7, #GAP_MULT]; muls r3, r1, r3; ldr r1, [r7, #GAP_SHIFT]; subs r1, #1
asrs r3, r1; adds r3, #1; asrs r3, r3, #1
movs r7, #127; cmp r3, r7; ble global_avg_pool_clamp_low; mov r3, r7
global_avg_pool_clamp_low: mvns r7, r7; cmp r3, r7; bge global_avg_pool_store; mov r3, r7
global_avg_pool_store: strb r3, [r2, r6]; adds r6, #1; cmp r6, r5; blt global_avg_pool_channel
global_avg_pool_done: pop {r3}; bx lr

.equ MP_WINDOWS, 0
.equ MP_CHANNELS, 4
.equ MP_SPAN, 8
.equ MP_STEP, 12
.global max_pool
@ mpool(x int8[L*c], -, y int8[nt*c]; P: nt, c, k*c, st*c): per window t of k steps
@ (nt of them, st apart) and channel o, y = max(-128, x over the window)
max_pool: ldr r4, [r3, #MP_WINDOWS]; cmp r4, #0; ble max_pool_done
max_pool_window: movs r5, #0
max_pool_channel: movs r6, #127; mvns r6, r6; adds r1, r0, r5; ldr r7, [r3, #MP_SPAN]; adds r7, r7, r1; mov r12, r7
max_pool_loop: cmp r1, r12; bhs max_pool_store; movs r7, #0; ldrsb r7, [r1, r7]; cmp r7, r6; ble max_pool_next; mov r6, r7
max_pool_next: ldr r7, [r3, #MP_CHANNELS]; adds r1, r1, r7; b max_pool_loop
max_pool_store: strb r6, [r2, #0]; adds r2, #1; adds r5, #1; ldr r7, [r3, #MP_CHANNELS]; cmp r5, r7; blt max_pool_channel
ldr r7, [r3, #MP_STEP]; adds r0, r0, r7; subs r4, #1; bne max_pool_window
max_pool_done: bx lr

.equ AP_WINDOWS, 0
.equ AP_CHANNELS, 4
.equ AP_SPAN, 8
.equ AP_STEP, 12
.equ AP_MULT, 16
.equ AP_SHIFT, 20
.global avg_pool
@ apool(x int8[L*c], -, y int8[nt*c]; P: nt, c, k*c, st*c, m, s): as mpool with
@ y = clamp(rq(sum over the window, m, s), -128, 127)
avg_pool: ldr r4, [r3, #AP_WINDOWS]; cmp r4, #0; ble avg_pool_done
avg_pool_window: movs r5, #0
avg_pool_channel: movs r6, #0; adds r1, r0, r5; ldr r7, [r3, #AP_SPAN]; adds r7, r7, r1; mov r12, r7
avg_pool_loop: cmp r1, r12; bhs avg_pool_requant; movs r7, #0; ldrsb r7, [r1, r7]; adds r6, r6, r7; ldr r7, [r3, #AP_CHANNELS]; adds r1, r1, r7; b avg_pool_loop
avg_pool_requant: ldr r7, [r3, #AP_MULT]; muls r6, r7, r6; ldr r7, [r3, #AP_SHIFT]; subs r7, #1; asrs r6, r7; adds r6, #1; asrs r6, r6, #1
movs r7, #127; cmp r6, r7; ble avg_pool_clamp_low; mov r6, r7
avg_pool_clamp_low: mvns r7, r7; cmp r6, r7; bge avg_pool_store; mov r6, r7
avg_pool_store: strb r6, [r2, #0]; adds r2, #1; adds r5, #1; ldr r7, [r3, #AP_CHANNELS]; cmp r5, r7; blt avg_pool_channel
ldr r7, [r3, #AP_STEP]; adds r0, r0, r7; subs r4, #1; bne avg_pool_window
avg_pool_done: bx lr
