/* crt.S — start-up, trap entries and privilege-mode switching for kiln's bare-metal tests.
 * Linked first, so _start is at 0x8000_0000 (the Makefile checks). All harts start here in
 * M-mode with a0 = hart id, a1 = device tree. */

#define MAX_HARTS    8
#define STACK_SHIFT  14          /* 16 KiB stack per hart */
#define TSTACK_SHIFT 13          /* 8 KiB M and S trap stacks per hart */
#define FRAME        (36 * 8)    /* struct trapframe */
#define ECALL_EXIT   0x4b494c4e

#define SAVE_GPRS \
    sd x1, 1*8(sp);   sd x3, 3*8(sp);   sd x4, 4*8(sp);   sd x5, 5*8(sp);   \
    sd x6, 6*8(sp);   sd x7, 7*8(sp);   sd x8, 8*8(sp);   sd x9, 9*8(sp);   \
    sd x10, 10*8(sp); sd x11, 11*8(sp); sd x12, 12*8(sp); sd x13, 13*8(sp); \
    sd x14, 14*8(sp); sd x15, 15*8(sp); sd x16, 16*8(sp); sd x17, 17*8(sp); \
    sd x18, 18*8(sp); sd x19, 19*8(sp); sd x20, 20*8(sp); sd x21, 21*8(sp); \
    sd x22, 22*8(sp); sd x23, 23*8(sp); sd x24, 24*8(sp); sd x25, 25*8(sp); \
    sd x26, 26*8(sp); sd x27, 27*8(sp); sd x28, 28*8(sp); sd x29, 29*8(sp); \
    sd x30, 30*8(sp); sd x31, 31*8(sp)

#define RESTORE_GPRS \
    ld x1, 1*8(sp);   ld x3, 3*8(sp);   ld x4, 4*8(sp);   ld x5, 5*8(sp);   \
    ld x6, 6*8(sp);   ld x7, 7*8(sp);   ld x8, 8*8(sp);   ld x9, 9*8(sp);   \
    ld x10, 10*8(sp); ld x11, 11*8(sp); ld x12, 12*8(sp); ld x13, 13*8(sp); \
    ld x14, 14*8(sp); ld x15, 15*8(sp); ld x16, 16*8(sp); ld x17, 17*8(sp); \
    ld x18, 18*8(sp); ld x19, 19*8(sp); ld x20, 20*8(sp); ld x21, 21*8(sp); \
    ld x22, 22*8(sp); ld x23, 23*8(sp); ld x24, 24*8(sp); ld x25, 25*8(sp); \
    ld x26, 26*8(sp); ld x27, 27*8(sp); ld x28, 28*8(sp); ld x29, 29*8(sp); \
    ld x30, 30*8(sp); ld x31, 31*8(sp)

    .section .text
    .option norvc
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    mv tp, a0                    /* tp = hart id for the whole run (lib.c: hartid()) */
    li t0, MAX_HARTS
    bgeu a0, t0, park

    la sp, hart_stacks_end
    slli t0, a0, STACK_SHIFT
    sub sp, sp, t0

    la t0, m_trap_entry
    csrw mtvec, t0
    la t0, m_trap_stacks_end
    slli t1, a0, TSTACK_SHIFT
    sub t0, t0, t1
    csrw mscratch, t0
    la t0, s_trap_entry
    csrw stvec, t0
    la t0, s_trap_stacks_end
    slli t1, a0, TSTACK_SHIFT
    sub t0, t0, t1
    csrw sscratch, t0

    /* PMP entry 0: the whole address space RWX for S and U (QEMU denies S/U without one) */
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0

    csrw mie, zero
    li t0, (1 << 13)             /* mstatus.FS = Initial: FP on */
    csrs mstatus, t0
    csrw fcsr, zero

    mv s0, a0
    mv s1, a1
    bnez a0, secondary

    la t0, __bss_start
    la t1, _end
1:  bgeu t0, t1, 2f
    sb zero, 0(t0)
    addi t0, t0, 1
    j 1b
2:  fence rw, rw
    la t0, boot_flag
    li t1, 1
    sw t1, 0(t0)
    fence rw, rw
    mv a0, s0
    mv a1, s1
    call main
    call exit_
    j park

secondary:
    la t0, boot_flag
3:  lw t1, 0(t0)
    beqz t1, 3b
    fence rw, rw
    mv a0, s0
    call secondary_main
park:
    wfi
    j park

/* ---- M-mode trap entry: mscratch holds this hart's M trap stack top ---- */
    .align 4
    .globl m_trap_entry
m_trap_entry:
    csrrw sp, mscratch, sp
    addi sp, sp, -FRAME
    SAVE_GPRS
    csrr t0, mscratch
    sd t0, 2*8(sp)
    csrr t0, mepc
    sd t0, 32*8(sp)
    csrr t0, mcause
    sd t0, 33*8(sp)
    csrr t0, mtval
    sd t0, 34*8(sp)
    csrr t0, mstatus
    sd t0, 35*8(sp)
    mv a0, sp
    call m_trap_c
    ld t0, 32*8(sp)
    csrw mepc, t0
    ld t0, 35*8(sp)
    csrw mstatus, t0
    addi t0, sp, FRAME
    csrw mscratch, t0
    RESTORE_GPRS
    ld sp, 2*8(sp)
    mret

/* ---- S-mode trap entry: sscratch holds this hart's S trap stack top ---- */
    .align 4
    .globl s_trap_entry
s_trap_entry:
    csrrw sp, sscratch, sp
    addi sp, sp, -FRAME
    SAVE_GPRS
    csrr t0, sscratch
    sd t0, 2*8(sp)
    csrr t0, sepc
    sd t0, 32*8(sp)
    csrr t0, scause
    sd t0, 33*8(sp)
    csrr t0, stval
    sd t0, 34*8(sp)
    csrr t0, sstatus
    sd t0, 35*8(sp)
    mv a0, sp
    call s_trap_c
    ld t0, 32*8(sp)
    csrw sepc, t0
    ld t0, 35*8(sp)
    csrw sstatus, t0
    addi t0, sp, FRAME
    csrw sscratch, t0
    RESTORE_GPRS
    ld sp, 2*8(sp)
    sret

/* long run_in_mode(long mode, long (*fn)(long), long arg, uint64_t sp) */
    .globl run_in_mode
run_in_mode:
    addi sp, sp, -112
    sd ra, 0(sp)
    sd s0, 8(sp)
    sd s1, 16(sp)
    sd s2, 24(sp)
    sd s3, 32(sp)
    sd s4, 40(sp)
    sd s5, 48(sp)
    sd s6, 56(sp)
    sd s7, 64(sp)
    sd s8, 72(sp)
    sd s9, 80(sp)
    sd s10, 88(sp)
    sd s11, 96(sp)
    la t1, saved_sp
    slli t2, tp, 3
    add t1, t1, t2
    ld t3, 0(t1)
    sd t3, 104(sp)               /* the enclosing run_in_mode's sp, if nested */
    sd sp, 0(t1)
    li t0, (3 << 11)
    csrc mstatus, t0
    andi a0, a0, 3
    slli a0, a0, 11
    csrs mstatus, a0
    csrw mepc, a1
    mv a0, a2
    beqz a3, 1f
    mv sp, a3
1:  la ra, mode_exit_tramp
    mret

    .globl mode_exit_tramp
mode_exit_tramp:
    li a7, ECALL_EXIT
    ecall
    j mode_exit_tramp

/* void mode_return(long val): called in M-mode (from a trap handler) */
    .globl mode_return
mode_return:
    la t1, m_trap_stacks_end
    slli t2, tp, TSTACK_SHIFT
    sub t1, t1, t2
    csrw mscratch, t1
    la t1, s_trap_stacks_end
    sub t1, t1, t2
    csrw sscratch, t1
    la t1, saved_sp
    slli t2, tp, 3
    add t1, t1, t2
    ld sp, 0(t1)
    ld t3, 104(sp)
    sd t3, 0(t1)
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    ld s3, 32(sp)
    ld s4, 40(sp)
    ld s5, 48(sp)
    ld s6, 56(sp)
    ld s7, 64(sp)
    ld s8, 72(sp)
    ld s9, 80(sp)
    ld s10, 88(sp)
    ld s11, 96(sp)
    addi sp, sp, 112
    ret

/* uint64_t m_trap_stack_top(uint64_t hart), s_trap_stack_top(uint64_t hart) */
    .globl m_trap_stack_top
m_trap_stack_top:
    la t0, m_trap_stacks_end
    slli a0, a0, TSTACK_SHIFT
    sub a0, t0, a0
    ret
    .globl s_trap_stack_top
s_trap_stack_top:
    la t0, s_trap_stacks_end
    slli a0, a0, TSTACK_SHIFT
    sub a0, t0, a0
    ret

    .data
    .align 3
boot_flag:
    .dword 0

    .bss
    .align 12
hart_stacks:
    .space (MAX_HARTS << STACK_SHIFT)
hart_stacks_end:
m_trap_stacks:
    .space (MAX_HARTS << TSTACK_SHIFT)
m_trap_stacks_end:
s_trap_stacks:
    .space (MAX_HARTS << TSTACK_SHIFT)
s_trap_stacks_end:
saved_sp:
    .space (MAX_HARTS * 8)
