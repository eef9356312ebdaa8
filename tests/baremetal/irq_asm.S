/* irq_asm.S — a vectored mtvec table for irq.c: every entry goes to the runtime's trap entry;
 * the machine timer's (7) counts itself first, so the test can tell it was used. */
    .text
    .option push
    .option norvc
    .balign 256
    .globl vec_table
vec_table:
    .rept 7
    j m_trap_entry
    .endr
    j vec_mti                          /* entry 7: machine timer */
    .rept 8
    j m_trap_entry
    .endr

vec_mti:
    csrrw sp, mscratch, sp
    sd t0, -8(sp)
    sd t1, -16(sp)
    la t0, vec_mti_count
    li t1, 1
    amoadd.d zero, t1, (t0)
    ld t1, -16(sp)
    ld t0, -8(sp)
    csrrw sp, mscratch, sp
    j m_trap_entry

    .data
    .balign 8
    .globl vec_mti_count
vec_mti_count:
    .dword 0
    .option pop
