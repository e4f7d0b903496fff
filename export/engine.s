@ The engine's own routines (export/engine.py puts them after qa.py's dense/conv
@ routine and qf.py's window features, in one block of machine code that the
@ V1 reads into RAM with the model; docs/firmware.md, "The engine").
@
@ Every routine is entered from firmware/lo.py's ex() with r0 = x (input),
@ r1 = w (weights, or a number), r2 = y (output), r3 = P (the call's
@ parameter words), and returns with bx lr. It may change r0-r7 and r12,
@ never r8-r11 or the stack. Results are those of firmware/qk.py, bit for bit.
@
@ Requantization: (a * m + 2**(s - 1)) >> s is computed as
@ ((a * m >> (s - 1)) + 1) >> 1: the same for every a (a = q * 2**(s-1) + r
@ with 0 <= r < 2**(s-1)), and it needs no register for the rounding term.
@ a * m stays below 2**30 (docs/quantization.md), so 32 bits are exact.

@ featq(f int32[n], off int16[n], y int8[n]; P: n, &m int32[n], &s uint8[n]):
@ y[i] = clamp(rq(f[i] - off[i], m[i], s[i]), -128, 127)
FQ: ldr r4, [r3, #0]; ldr r5, [r3, #4]; ldr r6, [r3, #8]; cmp r4, #0; ble FQX
FQL: ldr r3, [r0, #0]; movs r7, #0; ldrsh r7, [r1, r7]; subs r3, r3, r7; ldr r7, [r5, #0]; muls r3, r7, r3
ldrb r7, [r6, #0]; subs r7, #1; asrs r3, r7; adds r3, #1; asrs r3, r3, #1
movs r7, #127; cmp r3, r7; ble FQ1; mov r3, r7
FQ1: mvns r7, r7; cmp r3, r7; bge FQ2; mov r3, r7
FQ2: strb r3, [r2, #0]; adds r0, #4; adds r1, #2; adds r5, #4; adds r6, #1; adds r2, #1
subs r4, #1; bne FQL
FQX: bx lr

@ rawq(x int16[n], -, y int8[n]; P: n, sh): y[i] = clamp(rq(x[i], 1, sh), -128, 127)
RQ: ldr r4, [r3, #0]; ldr r6, [r3, #4]; subs r6, #1; movs r7, #0; cmp r4, #0; ble RQX
RQL: ldrsh r3, [r0, r7]; asrs r3, r6; adds r3, #1; asrs r3, r3, #1
movs r5, #127; cmp r3, r5; ble RQ1; mov r3, r5
RQ1: mvns r5, r5; cmp r3, r5; bge RQ2; mov r3, r5
RQ2: strb r3, [r2, #0]; adds r2, #1; adds r0, #2; subs r4, #1; bne RQL
RQX: bx lr

@ gmp(x int8[L*c], -, y int8[c]; P: L, c): y[o] = max(-128, x[t*c + o] for t < L)
GM: ldr r4, [r3, #0]; ldr r5, [r3, #4]; movs r6, #0; cmp r5, #0; ble GMX
GMO: adds r1, r0, r6; movs r3, #127; mvns r3, r3; mov r12, r4; cmp r4, #0; ble GMS
GML: movs r7, #0; ldrsb r7, [r1, r7]; cmp r7, r3; ble GMN; mov r3, r7
GMN: adds r1, r1, r5; mov r7, r12; subs r7, #1; mov r12, r7; bne GML
GMS: strb r3, [r2, r6]; adds r6, #1; cmp r6, r5; blt GMO
GMX: bx lr

@ gap(x int8[L*c], -, y int8[c]; P: L, c, m, s):
@ y[o] = clamp(rq(sum(x[t*c + o] for t < L), m, s), -128, 127)
GA: push {r3}; ldr r4, [r3, #0]; ldr r5, [r3, #4]; movs r6, #0; cmp r5, #0; ble GAX
GAO: adds r1, r0, r6; mov r7, r4; muls r7, r5, r7; adds r7, r7, r1; mov r12, r7; movs r3, #0
GAL: cmp r1, r12; bhs GAR; movs r7, #0; ldrsb r7, [r1, r7]; adds r3, r3, r7; adds r1, r1, r5; b GAL
GAR: ldr r7, [sp, #0]; ldr r1, [r7, #8]; muls r3, r1, r3; ldr r1, [r7, #12]; subs r1, #1
asrs r3, r1; adds r3, #1; asrs r3, r3, #1
movs r7, #127; cmp r3, r7; ble GA1; mov r3, r7
GA1: mvns r7, r7; cmp r3, r7; bge GA2; mov r3, r7
GA2: strb r3, [r2, r6]; adds r6, #1; cmp r6, r5; blt GAO
GAX: pop {r3}; bx lr

@ amax(y int8[n]; P: n): returns the index of the first largest y (as qk.amax)
AM: ldr r4, [r3, #0]; movs r5, #0; ldrsb r7, [r0, r5]; movs r6, #1
AML: cmp r6, r4; bge AMX; ldrsb r1, [r0, r6]; cmp r1, r7; ble AMN; mov r7, r1; mov r5, r6
AMN: adds r6, #1; b AML
AMX: mov r0, r5; bx lr

@ conf(y int8[n], E int16[m]; P: n, m): returns 25600 // a, a the sum of E[k - v]
@ over the y = v with k - v < m, k the largest y (as qk.conf; 0 if a were 0)
CF: ldr r4, [r3, #0]; ldr r5, [r3, #4]; movs r6, #0; ldrsb r7, [r0, r6]; movs r6, #1
CFM: cmp r6, r4; bge CFS; ldrsb r2, [r0, r6]; cmp r2, r7; ble CFN; mov r7, r2
CFN: adds r6, #1; b CFM
CFS: movs r6, #0; movs r3, #0
CFL: cmp r6, r4; bge CFD; ldrsb r2, [r0, r6]; subs r2, r7, r2; cmp r2, r5; bge CFX
lsls r2, r2, #1; ldrsh r2, [r1, r2]; adds r3, r3, r2
CFX: adds r6, #1; b CFL
CFD: movs r0, #100; lsls r0, r0, #8; movs r2, #0; cmp r3, #0; ble CFR
CFQ: cmp r0, r3; blo CFR; subs r0, r0, r3; adds r2, #1; b CFQ
CFR: mov r0, r2; bx lr

@ mpool(x int8[L*c], -, y int8[nt*c]; P: nt, c, k*c, st*c): per window t of k steps
@ (nt of them, st apart) and channel o, y = max(-128, x over the window)
MP: ldr r4, [r3, #0]; cmp r4, #0; ble MPX
MPT: movs r5, #0
MPO: movs r6, #127; mvns r6, r6; adds r1, r0, r5; ldr r7, [r3, #8]; adds r7, r7, r1; mov r12, r7
MPL: cmp r1, r12; bhs MPS; movs r7, #0; ldrsb r7, [r1, r7]; cmp r7, r6; ble MPN; mov r6, r7
MPN: ldr r7, [r3, #4]; adds r1, r1, r7; b MPL
MPS: strb r6, [r2, #0]; adds r2, #1; adds r5, #1; ldr r7, [r3, #4]; cmp r5, r7; blt MPO
ldr r7, [r3, #12]; adds r0, r0, r7; subs r4, #1; bne MPT
MPX: bx lr

@ apool(x int8[L*c], -, y int8[nt*c]; P: nt, c, k*c, st*c, m, s): as mpool with
@ y = clamp(rq(sum over the window, m, s), -128, 127)
AP: ldr r4, [r3, #0]; cmp r4, #0; ble APX
APT: movs r5, #0
APO: movs r6, #0; adds r1, r0, r5; ldr r7, [r3, #8]; adds r7, r7, r1; mov r12, r7
APL: cmp r1, r12; bhs APS; movs r7, #0; ldrsb r7, [r1, r7]; adds r6, r6, r7; ldr r7, [r3, #4]; adds r1, r1, r7; b APL
APS: ldr r7, [r3, #16]; muls r6, r7, r6; ldr r7, [r3, #20]; subs r7, #1; asrs r6, r7; adds r6, #1; asrs r6, r6, #1
movs r7, #127; cmp r6, r7; ble AP1; mov r6, r7
AP1: mvns r7, r7; cmp r6, r7; bge AP2; mov r6, r7
AP2: strb r6, [r2, #0]; adds r2, #1; adds r5, #1; ldr r7, [r3, #4]; cmp r5, r7; blt APO
ldr r7, [r3, #12]; adds r0, r0, r7; subs r4, #1; bne APT
APX: bx lr
