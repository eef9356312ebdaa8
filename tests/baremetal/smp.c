/* smp.c — 4 harts (run with --cpus 4) hammer one shared counter, each adding 10000 with amoadd.d
 * and 10000 with an LR/SC loop, interleaved; hart 0 waits for all and expects 80000. Also a
 * 32-bit amoadd.w counter, a plain counter under an amoswap spinlock, and message passing with
 * fences. */
#include "lib.h"

#define NHARTS 4
#define ITERS 10000

static volatile uint64_t counter __attribute__((aligned(64)));
static volatile uint32_t counter_w[2] __attribute__((aligned(64)));
static volatile uint64_t plain __attribute__((aligned(64)));
static volatile int spin __attribute__((aligned(64)));
static volatile uint64_t arrived, done, seen_harts, sc_failures;
static volatile uint64_t msg_data[NHARTS], msg_flag[NHARTS];
/* LR on hart 0, a store from hart 1, then SC on hart 0: the SC must fail */
static volatile uint64_t resv __attribute__((aligned(64)));
static volatile uint64_t resv_req __attribute__((aligned(64))), resv_ack __attribute__((aligned(64)));

static inline void amoadd_d(volatile uint64_t *p, uint64_t v)
{
    asm volatile("amoadd.d zero, %1, (%0)" :: "r"(p), "r"(v) : "memory");
}

static inline uint64_t lrsc_inc(volatile uint64_t *p)
{
    uint64_t tmp, fail, tries = 0;
    asm volatile("1: lr.d %0, (%3)\n"
                 "   addi %0, %0, 1\n"
                 "   sc.d %1, %0, (%3)\n"
                 "   beqz %1, 2f\n"
                 "   addi %2, %2, 1\n"
                 "   j 1b\n"
                 "2:"
                 : "=&r"(tmp), "=&r"(fail), "+r"(tries) : "r"(p) : "memory");
    return tries;
}

static void work(uint64_t hart)
{
    amoadd_d(&seen_harts, 1ul << hart);
    amoadd_d(&arrived, 1);
    uint64_t t0 = rdtime_mmio();
    while (arrived < NHARTS && rdtime_mmio() - t0 < 10 * TIMEBASE_HZ)
        ;
    uint64_t fails = 0;
    for (int i = 0; i < ITERS; i++) {
        amoadd_d(&counter, 1);
        fails += lrsc_inc(&counter);
        asm volatile("amoadd.w zero, %1, (%0)" :: "r"(&counter_w[1]), "r"(1) : "memory");
        lock(&spin);
        plain = plain + 1;
        unlock(&spin);
    }
    amoadd_d(&sc_failures, fails);
    /* message passing: data, fence, flag -> the reader sees the data */
    msg_data[hart] = 0xda7a0000 + hart;
    fence();
    msg_flag[hart] = 1;
    amoadd_d(&done, 1);
}

void secondary_main(uint64_t hart)
{
    if (hart < NHARTS)
        work(hart);
    if (hart == 1) {
        for (uint64_t served = 0;;) {
            uint64_t r = resv_req;
            if (r != served) {
                resv = resv + 0x100;                    /* a plain store, value changes */
                fence();
                resv_ack = r;
                served = r;
            }
        }
    }
    for (;;)
        asm volatile("wfi");
}

int main(void)
{
    test_begin("smp");
    section("4 harts x (10000 amoadd.d + 10000 LR/SC) on one counter, plus amoadd.w and a lock");
    work(0);
    uint64_t t0 = rdtime_mmio();
    while (done < NHARTS && rdtime_mmio() - t0 < 20 * TIMEBASE_HZ)
        ;
    printf_("   harts seen 0x%lx, done %ld, counter %ld, SC retries %ld, %ld ms\n", seen_harts,
            done, counter, sc_failures, (rdtime_mmio() - t0) / 10000);
    CHECK_EQ(seen_harts, (1ul << NHARTS) - 1);
    CHECK_EQ(done, NHARTS);
    CHECK_EQ(counter, 2ul * NHARTS * ITERS);
    CHECK_EQ(counter_w[1], NHARTS * ITERS);
    CHECK_EQ(counter_w[0], 0);
    CHECK_EQ(plain, NHARTS * ITERS);
    CHECK_EQ(spin, 0);

    section("message passing with fences");
    for (int h = 0; h < NHARTS; h++) {
        CHECK_EQ(msg_flag[h], 1);
        fence();
        CHECK_EQ(msg_data[h], 0xda7a0000ul + h);
    }

    section("SC fails after another hart stored to the reserved address");
    {
        int succeeded = 0;
        for (uint64_t i = 1; i <= 100; i++) {
            uint64_t v, fail;
            asm volatile("lr.d %0, (%1)" : "=r"(v) : "r"(&resv) : "memory");
            resv_req = i;
            uint64_t t1 = rdtime_mmio();
            while (resv_ack != i && rdtime_mmio() - t1 < 5 * TIMEBASE_HZ)
                ;
            asm volatile("sc.d %0, %2, (%1)" : "=r"(fail) : "r"(&resv), "r"(v + 1) : "memory");
            if (!fail)
                succeeded++;
        }
        CHECK_EQ(resv_ack, 100);
        CHECK_EQ(succeeded, 0);
        CHECK_EQ(resv, 100 * 0x100);
    }
    return 0;
}
