/* goldfish_rtc.h — Google's goldfish RTC (as on QEMU virt): nanoseconds since the Unix epoch from
 * the host's wall clock (the guest may set its own offset), and a one-shot alarm interrupt. */
#ifndef KILN_DEV_GOLDFISH_RTC_H
#define KILN_DEV_GOLDFISH_RTC_H
#include <pthread.h>
#include <stdbool.h>
#include "dev/irq.h"
#include "dev/mmio.h"

struct goldfish_rtc {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t alarm_thread;
    bool thread_running, stopping;
    struct irq_line irq;
    int64_t offset_ns;            /* guest time = host CLOCK_REALTIME + offset */
    uint32_t time_high_latch;     /* TIME_HIGH as latched by the last TIME_LOW read */
    uint32_t set_high;            /* TIME_HIGH written, applied by the next TIME_LOW write */
    uint64_t alarm_ns;
    uint32_t alarm_high;
    bool alarm_armed, irq_enabled, irq_pending;
};

void goldfish_rtc_init(struct goldfish_rtc *r, struct irq_line irq);
struct mmio_region goldfish_rtc_region(struct goldfish_rtc *r, uint64_t base);
void goldfish_rtc_destroy(struct goldfish_rtc *r);
struct persist_writer;
struct persist_reader;
/* State save and restore (common/persist.h); restore refuses bad values and re-drives the
 * interrupt output. The time itself is the host's wall clock plus the guest's offset. */
void goldfish_rtc_save(struct goldfish_rtc *rtc, struct persist_writer *w);
int goldfish_rtc_restore(struct goldfish_rtc *rtc, struct persist_reader *pr);

#endif
