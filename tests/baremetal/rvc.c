/* rvc.c — the C extension: hand-written compressed instructions (rvc_asm.S) of every kind,
 * 32-bit instructions at 2-byte-aligned addresses and across a page boundary, compiled rv64gc
 * code, and the compressed c.ebreak / illegal all-zero parcel traps. */
#include "lib.h"

void rvc_ops(uint64_t out[32]);
long rvc_straddle(void);
void rvc_traps(void);
extern char rvc_straddle_insn[], rvc_ebreak_at[], rvc_illegal_at[];

/* compiled with -march=rv64gc: GCC uses compressed forms for most of this */
__attribute__((noinline)) static uint64_t sort_and_hash(uint32_t *v, int n)
{
    for (int i = 1; i < n; i++) {
        uint32_t x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
    uint64_t h = 1469598103934665603ul;
    for (int i = 0; i < n; i++)
        h = (h ^ v[i]) * 1099511628211ul;
    return h;
}

/* count 16-bit parcels among the instructions of a function, up to its first c.jr ra */
static int count_compressed(const void *fn, int *total)
{
    const uint16_t *p = fn;
    int n16 = 0, n = 0;
    for (; n < 512; n++) {
        uint16_t h = *p;
        if ((h & 3) != 3) {
            n16++;
            p++;
            if (h == 0x8082)
                break;
        } else {
            p += 2;
        }
    }
    *total = n + 1;
    return n16;
}

static volatile uint64_t trap_cause[4], trap_epc[4], trap_tval[4], trap_count;

static int rvc_trap(struct trapframe *tf)
{
    if ((tf->cause & CAUSE_INTR) || trap_count >= 4)
        return 0;
    trap_cause[trap_count] = tf->cause;
    trap_epc[trap_count] = tf->epc;
    trap_tval[trap_count] = tf->tval;
    trap_count++;
    uint16_t h = *(uint16_t *)tf->epc;
    tf->epc += (h & 3) == 3 ? 4 : 2;
    return 1;
}

int main(void)
{
    test_begin("rvc");

    section("misa.C is set");
    CHECK(csr_read(misa) & (1ul << ('C' - 'A')));

    section("hand-written compressed instructions");
    {
        static uint64_t out[32];
        static const uint64_t exp[27] = {
            (uint64_t)-7l, 0xfffffffffffe1000ul, 0x7c00000000000000ul, (uint64_t)-8l, 15, 10,
            (uint64_t)-1l, 0xffffffff80000000ul, 22, 2, 6, 14, 8, 0xffffffff8000000aul,
            0x7ffffff6ul, 0x80000000ul, 0xffffffff80000000ul, 0x7ffffff6ul,
            0xffffffff80000000ul, 32, 0x400921fb54442d18ul, 10, 17, 2, 0x123, 0x12a, 0,
        };
        out[30] = 0x400921fb54442d18ul;
        rvc_ops(out);
        for (int i = 0; i < 27; i++) {
            if (i == 15)
                out[15] &= 0xffffffffu;          /* only the low word was stored */
            if (out[i] != exp[i])
                printf_("   out[%d] = 0x%lx, expected 0x%lx\n", i, out[i], exp[i]);
        }
        for (int i = 0; i < 27; i++)
            CHECK_EQ(out[i], exp[i]);
    }

    section("32-bit instruction across a 4 KiB boundary (after 2045 c.nop)");
    CHECK_EQ((uint64_t)rvc_straddle_insn & 0xfff, 0xffe);
    CHECK_EQ(rvc_straddle(), 0x5a5);

    section("compiled rv64gc code contains and runs compressed instructions");
    {
        uint32_t v[16] = { 9, 3, 15, 1, 0, 7, 12, 4, 8, 2, 14, 6, 11, 5, 13, 10 };
        int total, n16 = count_compressed((const void *)sort_and_hash, &total);
        printf_("   sort_and_hash: %d of %d instructions are compressed\n", n16, total);
        CHECK(n16 > 4);
        CHECK_EQ(sort_and_hash(v, 16), 0x088b84ce5271b343ul);
        for (int i = 0; i < 16; i++)
            CHECK_EQ(v[i], (uint64_t)i);
    }

    section("c.ebreak traps with cause 3 at its address; 0x0000 is illegal");
    m_trap_hook = rvc_trap;
    trap_count = 0;
    rvc_traps();
    CHECK_EQ(trap_count, 2);
    CHECK_EQ(trap_cause[0], EXC_BREAKPOINT);
    CHECK_EQ(trap_epc[0], (uint64_t)rvc_ebreak_at);
    /* mtval for a breakpoint is 0 or the faulting address */
    CHECK(trap_tval[0] == 0 || trap_tval[0] == (uint64_t)rvc_ebreak_at);
    CHECK_EQ(trap_cause[1], EXC_ILLEGAL);
    CHECK_EQ(trap_epc[1], (uint64_t)rvc_illegal_at);
    CHECK_EQ(trap_tval[1], 0);                  /* the (all-zero) instruction bits */
    m_trap_hook = 0;
    return 0;
}
