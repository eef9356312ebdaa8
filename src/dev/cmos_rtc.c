/* cmos_rtc.c — the MC146818 RTC and CMOS RAM (see cmos_rtc.h). */
#include <string.h>
#include "common/persist.h"
#include "dev/cmos_rtc.h"

enum {
    REG_SEC = 0x00, REG_MIN = 0x02, REG_HOUR = 0x04, REG_WDAY = 0x06, REG_MDAY = 0x07,
    REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
    REG_CENTURY = 0x32,
};
#define A_DIVIDER_32K 0x26      /* 32.768 kHz time base, 1024 Hz rate; UIP (bit 7) clear */
#define B_24H   0x02
#define B_DM    0x04            /* binary, not BCD */
#define B_SET   0x80            /* the guest halts updates to set the time */
#define D_VRT   0x80            /* valid RAM and time: the battery is fine */

static uint8_t bcd(unsigned v, uint8_t b)
{
    return (b & B_DM) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* UTC calendar fields of t, without gmtime_r: glibc's reads the time zone file on its first
 * call, which a vCPU thread's seccomp list forbids (and which UTC does not need). Howard
 * Hinnant's days-to-civil algorithm. */
void cmos_rtc_civil(time_t t, struct tm *tm)
{
    memset(tm, 0, sizeof(*tm));
    long long days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    tm->tm_hour = (int)(secs / 3600);
    tm->tm_min = (int)(secs / 60 % 60);
    tm->tm_sec = (int)(secs % 60);
    tm->tm_wday = (int)(((days % 7) + 11) % 7);      /* 1970-01-01 was a Thursday (4) */
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1;
    long long m = mp < 10 ? mp + 3 : mp - 9;
    long long y = yoe + era * 400 + (m <= 2);
    tm->tm_mday = (int)d;
    tm->tm_mon = (int)m - 1;
    tm->tm_year = (int)(y - 1900);
}

/* a clock register's value now, in register B's format */
static uint8_t clock_reg(struct cmos_rtc *c, unsigned reg)
{
    time_t t = c->now ? c->now() : time(NULL);
    struct tm tm;
    cmos_rtc_civil(t, &tm);
    uint8_t b = c->ram[REG_B];
    switch (reg) {
    case REG_SEC: return bcd((unsigned)tm.tm_sec, b);
    case REG_MIN: return bcd((unsigned)tm.tm_min, b);
    case REG_HOUR:
        if (b & B_24H)
            return bcd((unsigned)tm.tm_hour, b);
        /* 12-hour: 12, 1..11, with bit 7 for PM */
        return (uint8_t)(bcd((unsigned)(tm.tm_hour % 12 ? tm.tm_hour % 12 : 12), b) |
                         (tm.tm_hour >= 12 ? 0x80 : 0));
    case REG_WDAY: return bcd((unsigned)tm.tm_wday + 1, b);
    case REG_MDAY: return bcd((unsigned)tm.tm_mday, b);
    case REG_MON: return bcd((unsigned)tm.tm_mon + 1, b);
    case REG_YEAR: return bcd((unsigned)(tm.tm_year + 1900) % 100, b);
    default: return bcd((unsigned)(tm.tm_year + 1900) / 100, b);   /* REG_CENTURY */
    }
}

static uint64_t cmos_read(void *opaque, uint64_t offset, unsigned size)
{
    struct cmos_rtc *c = opaque;
    (void)size;
    if (offset == 0)
        return 0xff;   /* the index register is write-only */
    pthread_mutex_lock(&c->lock);
    unsigned reg = c->index;
    uint8_t v;
    switch (reg) {
    case REG_SEC: case REG_MIN: case REG_HOUR: case REG_WDAY: case REG_MDAY: case REG_MON:
    case REG_YEAR: case REG_CENTURY:
        v = clock_reg(c, reg);
        break;
    case REG_C:
        v = 0;         /* no interrupt flags: none is ever raised */
        break;
    default:
        v = c->ram[reg];
    }
    pthread_mutex_unlock(&c->lock);
    return v;
}

static void cmos_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct cmos_rtc *c = opaque;
    (void)size;
    pthread_mutex_lock(&c->lock);
    if (offset == 0) {
        c->index = value & 0x7f;    /* bit 7 masks NMIs on a PC: nothing to mask here */
    } else {
        switch (c->index) {
        case REG_SEC: case REG_MIN: case REG_HOUR: case REG_WDAY: case REG_MDAY: case REG_MON:
        case REG_YEAR: case REG_CENTURY:
        case REG_C: case REG_D:
            break;                  /* the clock is the host's; C and D are read-only */
        case REG_A:
            c->ram[REG_A] = (uint8_t)(value & 0x7f);   /* UIP is read-only */
            break;
        default:
            c->ram[c->index] = (uint8_t)value;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void cmos_rtc_init(struct cmos_rtc *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->ram[REG_A] = A_DIVIDER_32K;
    c->ram[REG_B] = B_24H;
    c->ram[REG_D] = D_VRT;
}

void cmos_rtc_destroy(struct cmos_rtc *c)
{
    pthread_mutex_destroy(&c->lock);
}

struct mmio_region cmos_rtc_region(struct cmos_rtc *c)
{
    return (struct mmio_region){ .name = "cmos-rtc", .base = CMOS_PORT_BASE,
                                 .size = CMOS_PORT_SIZE, .opaque = c,
                                 .read = cmos_read, .write = cmos_write };
}

void cmos_rtc_save(struct cmos_rtc *c, struct persist_writer *w)
{
    pthread_mutex_lock(&c->lock);
    persist_begin(w, "cmos-rtc", 1);
    persist_u8(w, c->index);
    persist_bytes(w, c->ram, sizeof(c->ram));
    persist_end(w);
    pthread_mutex_unlock(&c->lock);
}

int cmos_rtc_restore(struct cmos_rtc *c, struct persist_reader *r)
{
    if (persist_open(r, "cmos-rtc", 1) != 0)
        return -1;
    uint8_t index = persist_get_u8(r);
    uint8_t ram[sizeof(c->ram)];
    persist_get_bytes(r, ram, sizeof(ram));
    if (persist_close(r) != 0)
        return -1;
    if (index >= sizeof(c->ram))   /* it indexes the RAM */
        return persist_fail(r, "CMOS RTC state: invalid index register %#x", index);
    pthread_mutex_lock(&c->lock);
    c->index = index;
    memcpy(c->ram, ram, sizeof(ram));
    pthread_mutex_unlock(&c->lock);
    return 0;
}
