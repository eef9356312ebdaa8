/* cmos_rtc.h — the PC's MC146818 real-time clock and CMOS RAM at ports 0x70 (index) and 0x71
 * (data): the host's wall clock (UTC) in the format the guest picks in register B (BCD or binary,
 * 12 or 24 hours), always valid and never mid-update (register A's UIP is 0), and 128 bytes of
 * CMOS RAM. Linux's rtc_cmos driver finds it and the guest's /dev/rtc0 reads the host's time;
 * without it the driver spends seconds deciding the clock is broken. The clock is read-only (a
 * guest's time write is dropped: kvm-clock is the guest's time anyway) and raises no interrupts
 * (no alarm, periodic or update-ended IRQ 8). */
#ifndef KILN_DEV_CMOS_RTC_H
#define KILN_DEV_CMOS_RTC_H
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "dev/mmio.h"

#define CMOS_PORT_BASE 0x70
#define CMOS_PORT_SIZE 2

struct cmos_rtc {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t ram[128];
    time_t (*now)(void);        /* the wall clock (tests replace it); NULL: time() */
};

void cmos_rtc_init(struct cmos_rtc *c);
void cmos_rtc_destroy(struct cmos_rtc *c);
/* The window at CMOS_PORT_BASE for the port bus (dev/pio.h). */
struct mmio_region cmos_rtc_region(struct cmos_rtc *c);
/* t's UTC date and time (tm_year, tm_mon, tm_mday, tm_wday, tm_hour, tm_min, tm_sec), as
 * gmtime_r would give them, without touching the time zone files. */
void cmos_rtc_civil(time_t t, struct tm *tm);

/* State save and restore (common/persist.h): the index register and the CMOS RAM (register
 * B's format among it); the clock itself is the host's and is not state. */
struct persist_reader;
struct persist_writer;
void cmos_rtc_save(struct cmos_rtc *c, struct persist_writer *w);
int cmos_rtc_restore(struct cmos_rtc *c, struct persist_reader *r);

#endif
