/* int.c — RV64I and the M extension: division corner cases, the mulh variants, the *w
 * instructions, shifts and immediates, plus compiled integer code checked against constants. */
#include "lib.h"

#define OP(name, insn) \
    static inline uint64_t name(uint64_t a, uint64_t b) \
    { uint64_t r; asm volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); return r; }
OP(op_add, "add") OP(op_sub, "sub") OP(op_sll, "sll") OP(op_srl, "srl") OP(op_sra, "sra")
OP(op_slt, "slt") OP(op_sltu, "sltu")
OP(op_addw, "addw") OP(op_subw, "subw") OP(op_sllw, "sllw") OP(op_srlw, "srlw")
OP(op_sraw, "sraw")
OP(op_mul, "mul") OP(op_mulh, "mulh") OP(op_mulhu, "mulhu") OP(op_mulhsu, "mulhsu")
OP(op_mulw, "mulw")
OP(op_div, "div") OP(op_divu, "divu") OP(op_rem, "rem") OP(op_remu, "remu")
OP(op_divw, "divw") OP(op_divuw, "divuw") OP(op_remw, "remw") OP(op_remuw, "remuw")

#define OPI(insn, a, imm) \
    ({ uint64_t r_; asm volatile(insn " %0, %1, " #imm : "=r"(r_) : "r"((uint64_t)(a))); r_; })

#define MIN64 0x8000000000000000ul
#define ALL1  0xfffffffffffffffful

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

static volatile uint64_t seed = 0x9e3779b97f4a7c15ul;

int main(void)
{
    test_begin("int");

    section("division by zero: quotient all ones, remainder = dividend");
    CHECK_EQ(op_div(1234, 0), ALL1);
    CHECK_EQ(op_div(-1234l, 0), ALL1);
    CHECK_EQ(op_divu(1234, 0), ALL1);
    CHECK_EQ(op_rem(-1234l, 0), (uint64_t)-1234l);
    CHECK_EQ(op_remu(0xdeadbeefcafeul, 0), 0xdeadbeefcafeul);
    CHECK_EQ(op_divw(0x100000007ul, 0), ALL1);
    CHECK_EQ(op_divuw(7, 0), ALL1);
    CHECK_EQ(op_remw(0x180000005ul, 0), 0xffffffff80000005ul);
    CHECK_EQ(op_remuw(0x180000005ul, 0), 0xffffffff80000005ul);

    section("signed overflow: MIN / -1 = MIN, MIN % -1 = 0");
    CHECK_EQ(op_div(MIN64, ALL1), MIN64);
    CHECK_EQ(op_rem(MIN64, ALL1), 0);
    CHECK_EQ(op_divw(0x80000000ul, ALL1), 0xffffffff80000000ul);
    CHECK_EQ(op_remw(0x80000000ul, ALL1), 0);

    section("ordinary division rounds toward zero");
    CHECK_EQ(op_div(-7l, 2), (uint64_t)-3l);
    CHECK_EQ(op_rem(-7l, 2), (uint64_t)-1l);
    CHECK_EQ(op_rem(7, -2l), 1);
    CHECK_EQ(op_divu(ALL1, 2), 0x7ffffffffffffffful);
    CHECK_EQ(op_remu(ALL1, 10), 5);
    CHECK_EQ(op_divw(-7l, 2), (uint64_t)-3l);
    CHECK_EQ(op_divuw(0xfffffffe, 2), 0x7fffffff);
    CHECK_EQ(op_divuw(0x100000010ul, 2), 8);          /* upper bits ignored */
    CHECK_EQ(op_remuw(0xffffffff, 0x10), 0xf);

    section("mul, mulh, mulhu, mulhsu, mulw");
    CHECK_EQ(op_mul(0x123456789abcdef0ul, 0xfedcba9876543210ul), 0x236d88fe5618cf00ul);
    CHECK_EQ(op_mulh(MIN64, MIN64), 0x4000000000000000ul);
    CHECK_EQ(op_mulhu(MIN64, MIN64), 0x4000000000000000ul);
    CHECK_EQ(op_mulhsu(MIN64, MIN64), 0xc000000000000000ul);
    CHECK_EQ(op_mulh(ALL1, ALL1), 0);
    CHECK_EQ(op_mulhu(ALL1, ALL1), 0xfffffffffffffffeul);
    CHECK_EQ(op_mulhsu(ALL1, ALL1), ALL1);
    CHECK_EQ(op_mulh(0x123456789abcdef0ul, 0xfedcba9876543210ul), 0xffeb49923cc09532ul);
    CHECK_EQ(op_mulhu(0x123456789abcdef0ul, 0xfedcba9876543210ul), 0x121fa00ad77d7422ul);
    CHECK_EQ(op_mulh(0x7ffffffffffffffful, MIN64), 0xc000000000000000ul);
    CHECK_EQ(op_mulhsu(0x7ffffffffffffffful, MIN64), 0x3ffffffffffffffful);
    CHECK_EQ(op_mulhsu(ALL1, 3), ALL1);
    CHECK_EQ(op_mulhu(ALL1, 3), 2);
    CHECK_EQ(op_mulw(0x7fffffff, 2), 0xfffffffffffffffeul);
    CHECK_EQ(op_mulw(0xabcdef00000003ul, 0x5), 15);

    section("*w ops sign-extend 32-bit results, shifts use the low 5/6 bits");
    CHECK_EQ(op_addw(0x7fffffff, 1), 0xffffffff80000000ul);
    CHECK_EQ(op_subw(0, 1), ALL1);
    CHECK_EQ(op_subw(0x100000000ul, 0), 0);
    CHECK_EQ(op_sllw(1, 31), 0xffffffff80000000ul);
    CHECK_EQ(op_sllw(1, 33), 2);
    CHECK_EQ(op_srlw(0xffffffff80000000ul, 1), 0x40000000);
    CHECK_EQ(op_sraw(0x80000000ul, 4), 0xfffffffff8000000ul);
    CHECK_EQ(OPI("addiw", 0x7fffffff, 1), 0xffffffff80000000ul);
    CHECK_EQ(OPI("addiw", 0x100000005ul, -6), ALL1);
    CHECK_EQ(OPI("slliw", 3, 30), 0xffffffffc0000000ul);
    CHECK_EQ(OPI("srliw", ALL1, 4), 0x0fffffff);
    CHECK_EQ(OPI("sraiw", 0x80000000ul, 31), ALL1);
    CHECK_EQ(op_sll(1, 63 + 64), MIN64);
    CHECK_EQ(op_srl(MIN64, 63), 1);
    CHECK_EQ(op_sra(MIN64, 63), ALL1);
    CHECK_EQ(OPI("srai", MIN64, 62), 0xfffffffffffffffeul);
    CHECK_EQ(op_slt(ALL1, 0), 1);
    CHECK_EQ(op_sltu(ALL1, 0), 0);
    CHECK_EQ(OPI("sltiu", 5, -1), 1);                /* immediate sign-extended, then unsigned */
    CHECK_EQ(OPI("xori", 0x5a, -1), ~0x5aul);
    CHECK_EQ(op_add(ALL1, 2), 1);
    CHECK_EQ(op_sub(0, MIN64), MIN64);

    section("lui/auipc sign extension, x0 stays zero");
    {
        uint64_t r;
        asm volatile("lui %0, 0x80000" : "=r"(r));
        CHECK_EQ(r, 0xffffffff80000000ul);
        asm volatile("li t0, 5\n addi zero, t0, 1\n mv %0, zero" : "=r"(r) :: "t0");
        CHECK_EQ(r, 0);
        uint64_t pc1, pc2;
        asm volatile(".option push\n.option norvc\n"
                     "1: auipc %0, 0\n auipc %1, 1\n"
                     ".option pop" : "=r"(pc1), "=r"(pc2));
        CHECK_EQ(pc2 - pc1, 0x1004);
        CHECK(pc1 >= RAM_BASE);
    }

    section("loads sign/zero-extend");
    {
        static volatile uint64_t mem = 0x8081828384858687ul;
        volatile int8_t *b = (volatile int8_t *)&mem;
        volatile int16_t *h = (volatile int16_t *)&mem;
        volatile int32_t *w = (volatile int32_t *)&mem;
        CHECK_EQ((int64_t)b[0], (uint64_t)(int64_t)(int8_t)0x87);
        CHECK_EQ((uint64_t)((volatile uint8_t *)&mem)[7], 0x80);
        CHECK_EQ((int64_t)h[1], 0xffffffffffff8485ul);
        CHECK_EQ((uint64_t)((volatile uint16_t *)&mem)[3], 0x8081);
        CHECK_EQ((int64_t)w[1], 0xffffffff80818283ul);
        CHECK_EQ((uint64_t)((volatile uint32_t *)&mem)[0], 0x84858687);
        ((volatile uint16_t *)&mem)[1] = 0x1234;
        CHECK_EQ(mem, 0x8081828312348687ul);
    }

    section("compiled code: CRC-32, xorshift, sieve");
    {
        static const char s[] = "The quick brown fox jumps over the lazy dog";
        CHECK_EQ(crc32((const uint8_t *)s, sizeof(s) - 1), 0x414fa339);
        uint64_t x = seed, acc = 0;
        for (int i = 0; i < 1000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            acc = acc * 31 + x % 1000003 + (i % 3 == 0 ? x / 7 : 0);
        }
        CHECK_EQ(x, 0x56b663219f6e38f5ul);
        CHECK_EQ(acc, 0x6e005528a66174cdul);
        static uint8_t composite[10000];
        int primes = 0;
        for (int i = 2; i < 10000; i++) {
            if (composite[i])
                continue;
            primes++;
            for (int j = i * i; j < 10000; j += i)
                composite[j] = 1;
        }
        CHECK_EQ(primes, 1229);
    }
    return 0;
}
