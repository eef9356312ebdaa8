/* lib.h — tiny runtime shared by kiln's bare-metal tests (see crt.S and lib.c).
 *
 * Every hart enters crt.S at 0x8000_0000 in M-mode with a0 = hart id, a1 = device tree. Hart 0
 * clears .bss and calls main(hartid, dtb); the others call secondary_main(hartid) (weak: parks the
 * hart). main's return value goes to the sifive,test1 finisher: 0 powers off (pass), N fails
 * with exit code N. CHECK/CHECK_EQ/CHECK_EQ2 stop at the first failed check with a distinct code
 * (1..119 in source order, skipping 64..71, which kiln itself uses) and print which check failed;
 * 120..122 are the runtime's own failures (CODE_*). */
#ifndef KILN_BAREMETAL_LIB_H
#define KILN_BAREMETAL_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_HARTS 8

/* board */
#define UART_BASE     0x10000000ul
#define FINISHER_BASE 0x00100000ul
#define CLINT_BASE    0x02000000ul
#define CLINT_MSIP(h)     ((volatile uint32_t *)(CLINT_BASE + 4 * (h)))
#define CLINT_MTIMECMP(h) ((volatile uint64_t *)(CLINT_BASE + 0x4000 + 8 * (h)))
#define CLINT_MTIME       ((volatile uint64_t *)(CLINT_BASE + 0xbff8))
#define RAM_BASE      0x80000000ul
#define TIMEBASE_HZ   10000000ul

/* privilege modes */
#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* mstatus bits */
#define MSTATUS_SIE  (1ul << 1)
#define MSTATUS_MIE  (1ul << 3)
#define MSTATUS_SPIE (1ul << 5)
#define MSTATUS_UBE  (1ul << 6)
#define MSTATUS_MPIE (1ul << 7)
#define MSTATUS_SPP  (1ul << 8)
#define MSTATUS_MPP  (3ul << 11)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_FS   (3ul << 13)
#define MSTATUS_MPRV (1ul << 17)
#define MSTATUS_SUM  (1ul << 18)
#define MSTATUS_MXR  (1ul << 19)
#define MSTATUS_TVM  (1ul << 20)
#define MSTATUS_TW   (1ul << 21)
#define MSTATUS_TSR  (1ul << 22)
#define MSTATUS_SD   (1ul << 63)

/* interrupt bits (mip/mie) */
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define CAUSE_INTR (1ul << 63)

/* exception causes */
#define EXC_INST_MISALIGNED  0
#define EXC_INST_ACCESS      1
#define EXC_ILLEGAL          2
#define EXC_BREAKPOINT       3
#define EXC_LOAD_MISALIGNED  4
#define EXC_LOAD_ACCESS      5
#define EXC_STORE_MISALIGNED 6
#define EXC_STORE_ACCESS     7
#define EXC_ECALL_U          8
#define EXC_ECALL_S          9
#define EXC_ECALL_M          11
#define EXC_INST_PAGE        12
#define EXC_LOAD_PAGE        13
#define EXC_STORE_PAGE       15

/* CSR access by number (works for CSRs the assembler does not know by name) */
#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr) ({ uint64_t v_; asm volatile("csrr %0, " STR(csr) : "=r"(v_) :: "memory"); v_; })
#define csr_write(csr, val) ({ asm volatile("csrw " STR(csr) ", %0" :: "rK"((uint64_t)(val)) : "memory"); })
#define csr_set(csr, val) ({ asm volatile("csrs " STR(csr) ", %0" :: "rK"((uint64_t)(val)) : "memory"); })
#define csr_clear(csr, val) ({ asm volatile("csrc " STR(csr) ", %0" :: "rK"((uint64_t)(val)) : "memory"); })
#define csr_swap(csr, val) ({ uint64_t v_; asm volatile("csrrw %0, " STR(csr) ", %1" : "=r"(v_) : "rK"((uint64_t)(val)) : "memory"); v_; })

#define CSR_MENVCFG  0x30a
#define CSR_STIMECMP 0x14d
#define CSR_SENVCFG  0x10a

/* trap frame built by the trap entries in crt.S; handlers may change any field, which is written
 * back (x registers, epc, status) before xRET */
struct trapframe {
    uint64_t x[32];          /* x[2] is the interrupted sp */
    uint64_t epc, cause, tval, status;
};
#define REG_RA 1
#define REG_SP 2
#define REG_A0 10
#define REG_A1 11
#define REG_A7 17

/* A hook returns 1 when it handled the trap (the frame is then resumed), 0 to fall through to
 * the default, which fails the test with CODE_UNEXPECTED_TRAP and prints the trap. */
typedef int (*trap_hook_t)(struct trapframe *tf);
extern volatile trap_hook_t m_trap_hook;
extern volatile trap_hook_t s_trap_hook;

/* What the record-and-skip hooks saw: the last exception, and how many were taken. */
struct trap_record {
    volatile uint64_t count, cause, epc, tval, status;
};
extern struct trap_record mtrap, strap;
/* Hooks that record an exception and resume after the faulting instruction (or, for an
 * instruction fetch fault, at the caller: epc = ra). Interrupts are not handled. */
int m_record_skip(struct trapframe *tf);
int s_record_skip(struct trapframe *tf);
static inline uint32_t insn_at(uint64_t pc)
{
    uint16_t lo = *(volatile uint16_t *)pc;
    if ((lo & 3) != 3)
        return lo;
    return lo | (uint32_t)*(volatile uint16_t *)(pc + 2) << 16;
}
static inline void trap_reset(struct trap_record *r)
{
    r->count = 0;
    r->cause = r->epc = r->tval = r->status = ~0ul;
}

/* exit codes reserved by the runtime */
#define CODE_UNEXPECTED_TRAP 120
#define CODE_UNEXPECTED_STRAP 121
#define CODE_NO_MEMORY 122

/* ecall with a7 = one of these (from any mode) is handled by the runtime's M handler */
#define ECALL_EXIT  0x4b494c4e  /* leave run_in_mode(), returning a0 */
#define ECALL_PROBE 0x50524f42  /* returns the caller's privilege mode in a0 */

/* crt.S */
void m_trap_entry(void);
void s_trap_entry(void);
/* Run fn(arg) in privilege mode `mode` (via mret) on stack `sp` (0: the current one) and return
 * what it returns; it may also leave early with mode_exit(v) (an ecall). mstatus.MIE is 0
 * afterwards. */
long run_in_mode(long mode, long (*fn)(long), long arg, uint64_t sp);
/* Abandon the current run_in_mode() from an M-mode trap handler: it returns val. */
void mode_return(long val) __attribute__((noreturn));
extern uint64_t m_trap_stack_top(uint64_t hart);
extern uint64_t s_trap_stack_top(uint64_t hart);

static inline __attribute__((noreturn)) void mode_exit(long val)
{
    register long a0 asm("a0") = val;
    register long a7 asm("a7") = ECALL_EXIT;
    asm volatile("ecall" :: "r"(a0), "r"(a7) : "memory");
    __builtin_unreachable();
}

/* the current privilege mode, asked of the M handler with an ecall (not usable while ecalls
 * from the current mode are delegated to S) */
static inline long current_mode(void)
{
    register long a0 asm("a0") = 0;
    register long a7 asm("a7") = ECALL_PROBE;
    asm volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
    return a0;
}

/* lib.c */
void putchar_(int c);
void puts_(const char *s);
void printf_(const char *fmt, ...);
void vprintf_(const char *fmt, va_list ap);
void exit_(int code) __attribute__((noreturn));
void test_begin(const char *name);
void section(const char *what);
void check_fail(int code, const char *expr, int line) __attribute__((noreturn));
void check_eq_fail(int code, const char *expr, uint64_t got, uint64_t exp, int line)
    __attribute__((noreturn));
int default_m_trap(struct trapframe *tf);
uint64_t hartid(void);
void lock(volatile int *l);
void unlock(volatile int *l);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
uint64_t rdtime_mmio(void);
void delay_ticks(uint64_t ticks);
extern volatile int print_lock;
extern char _end[];

/* Check codes: each CHECK site gets the next code of its file (__COUNTER__), skipping 64..71. */
#define CHECK_CODE_(n) ((n) + 1 >= 64 ? (n) + 9 : (n) + 1)
#define CHECK(cond) do { \
        enum { c_ = CHECK_CODE_(__COUNTER__) }; \
        _Static_assert(c_ < 120, "too many checks in one test"); \
        if (!(cond)) check_fail(c_, #cond, __LINE__); \
    } while (0)
#define CHECK_EQ(got, exp) do { \
        enum { c_ = CHECK_CODE_(__COUNTER__) }; \
        _Static_assert(c_ < 120, "too many checks in one test"); \
        uint64_t g_ = (uint64_t)(got), e_ = (uint64_t)(exp); \
        if (g_ != e_) check_eq_fail(c_, #got, g_, e_, __LINE__); \
    } while (0)

/* two comparisons under one code (e.g. a trap's cause and its tval) */
#define CHECK_EQ2(got1, exp1, got2, exp2) do { \
        enum { c_ = CHECK_CODE_(__COUNTER__) }; \
        _Static_assert(c_ < 120, "too many checks in one test"); \
        uint64_t g1_ = (uint64_t)(got1), e1_ = (uint64_t)(exp1); \
        if (g1_ != e1_) check_eq_fail(c_, #got1, g1_, e1_, __LINE__); \
        uint64_t g2_ = (uint64_t)(got2), e2_ = (uint64_t)(exp2); \
        if (g2_ != e2_) check_eq_fail(c_, #got2, g2_, e2_, __LINE__); \
    } while (0)

#define barrier() asm volatile("" ::: "memory")
#define fence() asm volatile("fence rw, rw" ::: "memory")

static inline uint64_t rdtime(void) { uint64_t v; asm volatile("rdtime %0" : "=r"(v)); return v; }
static inline uint64_t rdcycle(void) { uint64_t v; asm volatile("rdcycle %0" : "=r"(v)); return v; }
static inline uint64_t rdinstret(void) { uint64_t v; asm volatile("rdinstret %0" : "=r"(v)); return v; }

#endif
