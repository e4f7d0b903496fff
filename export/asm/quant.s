@ The input stage: feature quantization (mlp) and raw quantization (cnn).
@ How routines are entered, and the requantization: README.md here.

.equ FQ_N, 0
.equ FQ_MULT, 4
.equ FQ_SHIFT, 8
.global feature_quant
@ featq(f int32[n], off int16[n], y int8[n]; P: n, &m int32[n], &s uint8[n]):
@ y[i] = clamp(rq(f[i] - off[i], m[i], s[i]), -128, 127)
feature_quant: ldr r4, [r3, #FQ_N]; ldr r5, [r3, #FQ_MULT]; ldr r6, [r3, #FQ_SHIFT]; cmp r4, #0; ble feature_quant_done
feature_quant_loop: ldr r3, [r0, #0]; movs r7, #0; ldrsh r7, [r1, r7]; subs r3, r3, r7; ldr r7, [r5, #0]; muls r3, r7, r3
ldrb r7, [r6, #0]; subs r7, #1; asrs r3, r7; adds r3, #1; asrs r3, r3, #1
movs r7, #127; cmp r3, r7; ble feature_quant_clamp_low; mov r3, r7
feature_quant_clamp_low: mvns r7, r7; cmp r3, r7; bge feature_quant_store; mov r3, r7
feature_quant_store: strb r3, [r2, #0]; adds r0, #4; adds r1, #2; adds r5, #4; adds r6, #1; adds r2, #1
subs r4, #1; bne feature_quant_loop
feature_quant_done: bx lr

.equ RQ_N, 0
.equ RQ_SHIFT, 4
.global raw_quant
@ rawq(x int16[n], -, y int8[n]; P: n, sh): y[i] = clamp(rq(x[i], 1, sh), -128, 127)
raw_quant: ldr r4, [r3, #RQ_N]; ldr r6, [r3, #RQ_SHIFT]; subs r6, #1; movs r7, #0; cmp r4, #0; ble raw_quant_done
raw_quant_loop: ldrsh r3, [r0, r7]; asrs r3, r6; adds r3, #1; asrs r3, r3, #1
movs r5, #127; cmp r3, r5; ble raw_quant_clamp_low; mov r3, r5
raw_quant_clamp_low: mvns r5, r5; cmp r3, r5; bge raw_quant_store; mov r3, r5
raw_quant_store: strb r3, [r2, #0]; adds r2, #1; adds r0, #2; subs r4, #1; bne raw_quant_loop
raw_quant_done: bx lr
