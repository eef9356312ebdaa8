/* smc.c — self-modifying code: rewrite instructions (in .text and in a data buffer), execute
 * fence.i, call them and check the new behaviour; including hot code, the block that is running,
 * 32-bit <-> compressed replacements, hundreds of successive rewrites, and code written by the
 * other hart (run with --cpus 2). */
#include "lib.h"

long smc_func(void);
long smc_next(uint32_t insn);
long smc_loop(long unused, long n);
extern uint32_t smc_loop_body[];

#define LI_A0(k)      (((uint32_t)(k) << 20) | 0x513u)           /* addi a0, zero, k */
#define ADDI_A0(k)    (((uint32_t)(k) << 20) | 0x50513u)         /* addi a0, a0, k */
#define ADDI_T2(k)    (((uint32_t)(k) << 20) | 0x38393u)         /* addi t2, t2, k */
#define RET           0x00008067u
#define C_LI_A0(k)    (uint16_t)(0x4000u | (((k) >> 5) & 1) << 12 | 10u << 7 | ((k) & 31) << 2 | 1)
#define C_ADDI_A0(k)  (uint16_t)((((k) >> 5) & 1) << 12 | 10u << 7 | ((k) & 31) << 2 | 1)
#define C_JR_RA       0x8082u

static uint32_t buf[64] __attribute__((aligned(64)));

static inline void fence_i(void) { asm volatile("fence.i" ::: "memory"); }

/* hart 1 writes "addi a0, a0, k; ret" into xbuf when asked (xreq = k), then sets xack = k */
static uint32_t xbuf[16] __attribute__((aligned(64)));
static volatile int64_t xreq, xack;

void secondary_main(uint64_t hart)
{
    if (hart == 1) {
        for (;;) {
            int64_t k = xreq;
            if (k != xack) {
                ((volatile uint32_t *)xbuf)[0] = ADDI_A0(k);
                ((volatile uint32_t *)xbuf)[1] = RET;
                fence();
                xack = k;
            }
        }
    }
    for (;;)
        asm volatile("wfi");
}
static long call_buf(long arg) { return ((long (*)(long))buf)(arg); }

int main(void)
{
    test_begin("smc");
    volatile uint32_t *f = (volatile uint32_t *)smc_func;
    volatile uint16_t *f16 = (volatile uint16_t *)smc_func;

    section("patch a hot function in .text");
    long sum = 0;
    for (int i = 0; i < 2000; i++)
        sum += smc_func();
    CHECK_EQ(sum, 2000);
    f[0] = LI_A0(2);
    fence_i();
    CHECK_EQ(smc_func(), 2);
    for (int k = 3; k < 300; k++) {
        f[0] = LI_A0(k);
        fence_i();
        if (smc_func() != k)
            break;
    }
    CHECK_EQ(smc_func(), 299);

    section("32-bit instruction replaced by compressed ones and back");
    f16[0] = C_LI_A0(7);
    f16[1] = C_JR_RA;
    fence_i();
    CHECK_EQ(smc_func(), 7);
    f[0] = LI_A0(8);
    f[1] = RET;
    fence_i();
    CHECK_EQ(smc_func(), 8);
    f[0] = LI_A0(9);
    f[1] = ADDI_A0(10);
    f[2] = RET;
    fence_i();
    CHECK_EQ(smc_func(), 19);

    section("code written into a data buffer, rewritten 500 times");
    buf[0] = ADDI_A0(1);
    buf[1] = RET;
    fence_i();
    CHECK_EQ(call_buf(41), 42);
    {
        int bad = -1;
        for (int k = 0; k < 500; k++) {
            buf[0] = ADDI_A0(k & 0x7ff);
            fence_i();
            if (call_buf(1000) != 1000 + (k & 0x7ff)) {
                bad = k;
                break;
            }
        }
        CHECK_EQ(bad, -1);
    }
    ((volatile uint16_t *)buf)[0] = C_ADDI_A0(-3);
    ((volatile uint16_t *)buf)[1] = C_JR_RA;
    fence_i();
    CHECK_EQ(call_buf(10), 7);

    section("the running block rewrites its own next instruction");
    {
        int bad = -1;
        for (int k = 1; k < 200; k++)
            if (smc_next(LI_A0(k)) != k) {
                bad = k;
                break;
            }
        CHECK_EQ(bad, -1);
        CHECK_EQ(smc_next(LI_A0(-5)), (uint64_t)-5l);
    }

    section("a hot loop body is patched between runs");
    CHECK_EQ(smc_loop(0, 1000), 1000);
    CHECK_EQ(smc_loop(0, 1000), 1000);
    smc_loop_body[0] = ADDI_T2(3);
    fence_i();
    CHECK_EQ(smc_loop(0, 1000), 3000);
    smc_loop_body[0] = ADDI_T2(-1);
    fence_i();
    CHECK_EQ(smc_loop(0, 10), (uint64_t)-10l);

    section("code written by the other hart, picked up after fence.i");
    {
        int bad = -1;
        for (int64_t k = 1; k <= 100; k++) {
            xreq = k;
            uint64_t t0 = rdtime_mmio();
            while (xack != k && rdtime_mmio() - t0 < 5 * TIMEBASE_HZ)
                ;
            CHECK_EQ(xack, k);
            fence();
            fence_i();
            if (((long (*)(long))xbuf)(1000) != 1000 + k) {
                bad = (int)k;
                break;
            }
        }
        CHECK_EQ(bad, -1);
    }
    return 0;
}
