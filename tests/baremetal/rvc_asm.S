/* rvc_asm.S — hand-written compressed instructions for rvc.c. */
    .text
    .option push
    .option rvc
    .option norelax

/* void rvc_ops(uint64_t out[32]): out[30] holds a double's bits on entry */
    .globl rvc_ops
    .balignw 4, 0x0001
rvc_ops:
    c.addi16sp sp, -64
    c.sdsp  s0, 0(sp)
    c.sdsp  s1, 8(sp)
    c.mv    s0, a0
    c.li    a1, -7
    c.sd    a1, 0(s0)                  /* 0: c.li -7 */
    c.lui   a2, 0xfffe1
    c.sd    a2, 8(s0)                  /* 1: c.lui -31 -> 0xfffffffffffe1000 */
    c.li    a3, 31
    c.slli  a3, 58
    c.sd    a3, 16(s0)                 /* 2: 31 << 58 */
    c.li    a4, -32
    c.srai  a4, 2
    c.sd    a4, 24(s0)                 /* 3: -32 >> 2 = -8 */
    c.li    a5, -1
    c.srli  a5, 60
    c.sd    a5, 32(s0)                 /* 4: ~0 >>> 60 = 15 */
    c.andi  a5, 10
    c.sd    a5, 40(s0)                 /* 5: 15 & 10 */
    c.addi  a5, -11
    c.sd    a5, 48(s0)                 /* 6: 10 - 11 = -1 */
    c.li    a1, -1
    c.srli  a1, 33
    c.addiw a1, 1
    c.sd    a1, 56(s0)                 /* 7: addiw 0x7fffffff + 1 */
    c.li    a2, 12
    c.li    a3, 10
    c.mv    a4, a2
    c.add   a4, a3
    c.sd    a4, 64(s0)                 /* 8: 22 */
    c.mv    a4, a2
    c.sub   a4, a3
    c.sd    a4, 72(s0)                 /* 9: 2 */
    c.mv    a4, a2
    c.xor   a4, a3
    c.sd    a4, 80(s0)                 /* 10: 6 */
    c.mv    a4, a2
    c.or    a4, a3
    c.sd    a4, 88(s0)                 /* 11: 14 */
    c.mv    a4, a2
    c.and   a4, a3
    c.sd    a4, 96(s0)                 /* 12: 8 */
    c.mv    a4, a1
    c.addw  a4, a3
    c.sd    a4, 104(s0)                /* 13: 0xffffffff8000000a */
    c.mv    a4, a1
    c.subw  a4, a3
    c.sd    a4, 112(s0)                /* 14: 0x7ffffff6 */
    c.sw    a1, 120(s0)                /* 15: low word 0x80000000 */
    c.lw    a5, 120(s0)
    c.sd    a5, 128(s0)                /* 16: c.lw sign-extends */
    c.sdsp  a4, 16(sp)
    c.ldsp  a2, 16(sp)
    c.sd    a2, 136(s0)                /* 17: 0x7ffffff6 through the stack */
    c.swsp  a1, 24(sp)
    c.lwsp  a2, 24(sp)
    c.sd    a2, 144(s0)                /* 18: c.lwsp sign-extends */
    c.addi4spn a2, sp, 32
    c.mv    a3, sp
    c.sub   a2, a3
    c.sd    a2, 152(s0)                /* 19: 32 */
    c.fld   fa0, 240(s0)
    c.fsdsp fa0, 32(sp)
    c.fldsp fa1, 32(sp)
    c.fsd   fa1, 160(s0)               /* 20: out[30] copied */
    c.li    a2, 0
    c.li    a3, 0
    c.beqz  a3, 1f
    c.addi  a2, 1
1:  c.bnez  a3, 2f
    c.addi  a2, 2
2:  c.li    a3, 5
    c.bnez  a3, 3f
    c.addi  a2, 4
3:  c.beqz  a3, 4f
    c.addi  a2, 8
4:  c.j     5f
    c.addi  a2, 16
5:  c.sd    a2, 168(s0)                /* 21: 2 + 8 = 10 */
    la      a3, rvc_leaf
    c.mv    s1, ra
6:  c.jalr  a3
    c.mv    ra, s1
    c.sd    a2, 176(s0)                /* 22: 10 + 7 = 17 */
    la      a5, 6b
    c.sub   a4, a5
    c.sd    a4, 184(s0)                /* 23: link = jalr + 2 */
    .balignw 4, 0x0001
    c.nop
    addi    a2, zero, 0x123            /* 32-bit instruction at pc % 4 == 2 */
    c.sd    a2, 192(s0)                /* 24: 0x123 */
    la      a3, rvc_leaf
    c.addi  a3, 1
    c.mv    s1, ra
    c.jalr  a3                         /* jalr clears bit 0 of the target */
    c.mv    ra, s1
    c.sd    a2, 200(s0)                /* 25: 0x123 + 7 */
    c.mv    a5, sp
    c.addi16sp sp, -496
    c.addi16sp sp, 496
    c.mv    a4, sp
    c.sub   a5, a4
    c.sd    a5, 208(s0)                /* 26: 0 */
    c.ldsp  s0, 0(sp)
    c.ldsp  s1, 8(sp)
    c.addi16sp sp, 64
    c.jr    ra

    .balignw 4, 0x0001
    c.nop
rvc_leaf:                              /* at pc % 4 == 2 */
    c.mv    a4, ra
    c.addi  a2, 7
    c.jr    ra

/* long rvc_straddle(void): returns 0x5a5 from a 32-bit instruction that crosses a 4 KiB
 * boundary */
    .balign 4096
    .globl rvc_straddle
rvc_straddle:
    .option norvc
    j       1f
    .option rvc
    .fill   (4094 - 4) / 2, 2, 0x0001  /* c.nop */
    .globl rvc_straddle_insn
rvc_straddle_insn:
1:  .option norvc
    addi    a0, zero, 0x5a5
    .option rvc
    c.jr    ra

/* void rvc_traps(void): c.ebreak, then the all-zero (illegal) parcel */
    .globl rvc_traps
    .globl rvc_ebreak_at
    .globl rvc_illegal_at
    .balignw 4, 0x0001
rvc_traps:
rvc_ebreak_at:
    c.ebreak
rvc_illegal_at:
    .2byte 0
    c.jr    ra
    .option pop
