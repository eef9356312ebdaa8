/* lib.c — console, exit, checks and default trap handling for kiln's bare-metal tests. */
#include "lib.h"

volatile trap_hook_t m_trap_hook;
volatile trap_hook_t s_trap_hook;
volatile int print_lock;
static volatile int print_owner = -1, print_depth;

uint64_t hartid(void)
{
    uint64_t h;
    asm volatile("mv %0, tp" : "=r"(h));
    return h;
}

void lock(volatile int *l)
{
    int old;
    do {
        asm volatile("amoswap.w.aq %0, %2, %1" : "=r"(old), "+A"(*l) : "r"(1) : "memory");
    } while (old);
}

void unlock(volatile int *l)
{
    asm volatile("amoswap.w.rl zero, zero, %0" : "+A"(*l) :: "memory");
}

/* the console lock is recursive so that a trap handler may print while its hart holds it */
static void console_lock(void)
{
    int me = (int)hartid();
    if (print_owner == me) {
        print_depth++;
        return;
    }
    lock(&print_lock);
    print_owner = me;
    print_depth = 1;
}

static void console_unlock(void)
{
    if (--print_depth == 0) {
        print_owner = -1;
        unlock(&print_lock);
    }
}

static void uart_putc(int c)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;
    while (!(uart[5] & 0x20))
        ;
    uart[0] = (uint8_t)c;
}

void putchar_(int c)
{
    console_lock();
    uart_putc(c);
    console_unlock();
}

void puts_(const char *s)
{
    console_lock();
    while (*s)
        uart_putc(*s++);
    uart_putc('\n');
    console_unlock();
}

static void put_num(uint64_t v, unsigned base, int neg, int width, char pad)
{
    char buf[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg)
        buf[n++] = '-';
    for (int i = n; i < width; i++)
        uart_putc(pad);
    while (n)
        uart_putc(buf[--n]);
}

/* %[0][width][l|ll]{d,i,u,x,p,s,c,%} */
void vprintf_(const char *fmt, va_list ap)
{
    console_lock();
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            uart_putc(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
            put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, width, pad);
            break;
        case 'x':
            put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, width, pad);
            break;
        case 'p':
            uart_putc('0');
            uart_putc('x');
            put_num((uint64_t)va_arg(ap, void *), 16, 0, width, pad);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s)
                uart_putc(*s++);
            break;
        }
        case 'c':
            uart_putc(va_arg(ap, int));
            break;
        case '%':
            uart_putc('%');
            break;
        case 0:
            fmt--;
            break;
        default:
            uart_putc('%');
            uart_putc(*fmt);
        }
    }
    console_unlock();
}

void printf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf_(fmt, ap);
    va_end(ap);
}

void exit_(int code)
{
    volatile uint32_t *fin = (volatile uint32_t *)FINISHER_BASE;
    if (code == 0)
        printf_("== all checks passed\n");
    else
        printf_("== FAILED with code %d\n", code);
    fence();
    *fin = code == 0 ? 0x5555 : ((uint32_t)code << 16) | 0x3333;
    for (;;)
        barrier();
}

static const char *test_name = "?";

void test_begin(const char *name)
{
    test_name = name;
    printf_("== %s: start\n", name);
}

void section(const char *what)
{
    printf_("-- %s\n", what);
}

void check_fail(int code, const char *expr, int line)
{
    printf_("FAIL %s: check %d (line %d, hart %d): %s\n", test_name, code, line, (int)hartid(),
            expr);
    exit_(code);
}

void check_eq_fail(int code, const char *expr, uint64_t got, uint64_t exp, int line)
{
    printf_("FAIL %s: check %d (line %d, hart %d): %s = 0x%lx, expected 0x%lx\n", test_name,
            code, line, (int)hartid(), expr, got, exp);
    exit_(code);
}

static void print_frame(const char *lvl, struct trapframe *tf)
{
    printf_("unexpected %s-mode trap on hart %d: cause=0x%lx epc=0x%lx tval=0x%lx status=0x%lx "
            "ra=0x%lx sp=0x%lx a0=0x%lx a7=0x%lx\n",
            lvl, (int)hartid(), tf->cause, tf->epc, tf->tval, tf->status, tf->x[REG_RA],
            tf->x[REG_SP], tf->x[REG_A0], tf->x[REG_A7]);
}

struct trap_record mtrap, strap;

static void record_skip(struct trap_record *r, struct trapframe *tf)
{
    r->count++;
    r->cause = tf->cause;
    r->epc = tf->epc;
    r->tval = tf->tval;
    r->status = tf->status;
    if (tf->cause == EXC_INST_MISALIGNED || tf->cause == EXC_INST_ACCESS ||
        tf->cause == EXC_INST_PAGE)
        tf->epc = tf->x[REG_RA];
    else
        tf->epc += (insn_at(tf->epc) & 3) == 3 ? 4 : 2;
}

int m_record_skip(struct trapframe *tf)
{
    if (tf->cause & CAUSE_INTR)
        return 0;
    record_skip(&mtrap, tf);
    return 1;
}

int s_record_skip(struct trapframe *tf)
{
    if (tf->cause & CAUSE_INTR)
        return 0;
    record_skip(&strap, tf);
    return 1;
}

int default_m_trap(struct trapframe *tf)
{
    print_frame("M", tf);
    exit_(CODE_UNEXPECTED_TRAP);
}

void m_trap_c(struct trapframe *tf)
{
    uint64_t c = tf->cause;
    if (c == EXC_ECALL_U || c == EXC_ECALL_S || c == EXC_ECALL_M) {
        if (tf->x[REG_A7] == ECALL_EXIT)
            mode_return((long)tf->x[REG_A0]);
        if (tf->x[REG_A7] == ECALL_PROBE) {
            tf->x[REG_A0] = c == EXC_ECALL_U ? PRV_U : c == EXC_ECALL_S ? PRV_S : PRV_M;
            tf->epc += 4;
            return;
        }
    }
    trap_hook_t h = m_trap_hook;
    if (h && h(tf))
        return;
    default_m_trap(tf);
}

void s_trap_c(struct trapframe *tf)
{
    if (tf->cause == EXC_ECALL_U) {
        /* ecalls from U delegated to S: pass the runtime's own requests on to M */
        if (tf->x[REG_A7] == ECALL_EXIT)
            mode_exit((long)tf->x[REG_A0]);
        if (tf->x[REG_A7] == ECALL_PROBE) {
            tf->x[REG_A0] = PRV_U;
            tf->epc += 4;
            return;
        }
    }
    trap_hook_t h = s_trap_hook;
    if (h && h(tf))
        return;
    print_frame("S", tf);
    exit_(CODE_UNEXPECTED_STRAP);
}

__attribute__((weak)) void secondary_main(uint64_t hart)
{
    (void)hart;
    for (;;)
        asm volatile("wfi");
}

uint64_t rdtime_mmio(void)
{
    return *CLINT_MTIME;
}

void delay_ticks(uint64_t ticks)
{
    uint64_t t0 = rdtime_mmio();
    while (rdtime_mmio() - t0 < ticks)
        ;
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}
