/* smc_asm.S — code that smc.c rewrites at run time (the -N link makes .text writable). */
    .text
    .option push
    .option norvc

/* long smc_func(void): returns 1 until patched */
    .balign 8
    .globl smc_func
smc_func:
    li a0, 1
    ret
    .fill 8, 4, 0x00000013             /* room for longer replacements */

/* long smc_next(uint32_t insn): stores insn over the instruction after the fence.i and runs
 * it: the block being executed rewrites its own next instruction */
    .globl smc_next
smc_next:
    la t0, 1f
    sw a0, 0(t0)
    fence.i
1:  li a0, 0
    ret

/* long smc_loop(uint32_t insn, long n): a hot loop whose body is patched */
    .globl smc_loop
    .globl smc_loop_body
smc_loop:
    mv t1, a1
    li t2, 0
2:
smc_loop_body:
    addi t2, t2, 1
    addi t1, t1, -1
    bnez t1, 2b
    mv a0, t2
    ret
    .option pop
