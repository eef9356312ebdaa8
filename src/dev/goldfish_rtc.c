/* goldfish_rtc.c — registers as in the Linux rtc-goldfish driver. The alarm is served by a
 * thread started on first use, sleeping until the alarm time. */
#include <time.h>
#include "common/persist.h"
#include "common/threads.h"
#include "dev/goldfish_rtc.h"
#include "sandbox/seccomp_policy.h"

enum {
    TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c, IRQ_ENABLED = 0x10,
    CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c,
};

static int64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

#define ALARM_RECHECK_NS 3600000000000ull

static uint64_t guest_now(struct goldfish_rtc *r)
{
    /* wrapping: the guest sets any 64-bit time, and a restored offset is anything */
    return (uint64_t)host_now_ns() + (uint64_t)r->offset_ns;
}

static void update_irq(struct goldfish_rtc *r)
{
    irq_set(&r->irq, r->irq_enabled && r->irq_pending);
}

static void *alarm_thread(void *arg)
{
    struct goldfish_rtc *r = arg;
    seccomp_policy_enter(KILN_THREAD_DEVICE);
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        if (!r->alarm_armed) {
            pthread_cond_wait(&r->changed, &r->lock);
            continue;
        }
        uint64_t now = guest_now(r);
        if (now >= r->alarm_ns) {
            r->alarm_armed = false;
            r->irq_pending = true;
            update_irq(r);
            continue;
        }
        /* in guest time, so any alarm and offset the guest or a state file gives is fine; a
         * far alarm is looked at again every hour rather than computed into a host deadline */
        uint64_t wait = r->alarm_ns - now;
        if (wait > ALARM_RECHECK_NS)
            wait = ALARM_RECHECK_NS;
        int64_t host_at = host_now_ns() + (int64_t)wait;
        struct timespec ts = { host_at / 1000000000ll, host_at % 1000000000ll };
        pthread_cond_timedwait(&r->changed, &r->lock, &ts);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    struct goldfish_rtc *r = opaque;
    uint64_t v = 0;
    (void)size;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case TIME_LOW: { /* reading the low half latches the high half, for a consistent pair */
        uint64_t t = guest_now(r);
        r->time_high_latch = (uint32_t)(t >> 32);
        v = (uint32_t)t;
        break;
    }
    case TIME_HIGH: v = r->time_high_latch; break;
    case ALARM_LOW: v = (uint32_t)r->alarm_ns; break;
    case ALARM_HIGH: v = (uint32_t)(r->alarm_ns >> 32); break;
    case IRQ_ENABLED: v = r->irq_enabled; break;
    case ALARM_STATUS: v = r->alarm_armed; break;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct goldfish_rtc *r = opaque;
    uint32_t v = (uint32_t)value;
    (void)size;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case TIME_HIGH: r->set_high = v; break;
    case TIME_LOW: /* wrapping, as guest_now adds it back */
        r->offset_ns = (int64_t)((((uint64_t)r->set_high << 32) | v) - (uint64_t)host_now_ns());
        break;
    case ALARM_HIGH: r->alarm_high = v; break;
    case ALARM_LOW: /* writing the low half arms the alarm */
        r->alarm_ns = ((uint64_t)r->alarm_high << 32) | v;
        r->alarm_armed = true;
        if (!r->thread_running)
            r->thread_running = thread_create_unsignalled(&r->alarm_thread, alarm_thread, r) == 0;
        break;
    case IRQ_ENABLED: r->irq_enabled = v & 1; break;
    case CLEAR_ALARM: r->alarm_armed = false; break;
    case CLEAR_INTERRUPT: r->irq_pending = false; break;
    }
    update_irq(r);
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

void goldfish_rtc_init(struct goldfish_rtc *r, struct irq_line irq)
{
    *r = (struct goldfish_rtc){ .irq = irq };
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL); /* CLOCK_REALTIME: alarms are wall-clock times */
}

struct mmio_region goldfish_rtc_region(struct goldfish_rtc *r, uint64_t base)
{
    return (struct mmio_region){ .name = "goldfish-rtc", .base = base, .size = 0x1000, .opaque = r,
                                 .read = rtc_read, .write = rtc_write };
}

void goldfish_rtc_save(struct goldfish_rtc *r, struct persist_writer *w)
{
    pthread_mutex_lock(&r->lock);
    persist_begin(w, "goldfish-rtc", 1);
    persist_u64(w, (uint64_t)r->offset_ns);
    persist_u32(w, r->time_high_latch);
    persist_u32(w, r->set_high);
    persist_u64(w, r->alarm_ns);
    persist_u32(w, r->alarm_high);
    persist_bool(w, r->alarm_armed);
    persist_bool(w, r->irq_enabled);
    persist_bool(w, r->irq_pending);
    persist_end(w);
    pthread_mutex_unlock(&r->lock);
}

int goldfish_rtc_restore(struct goldfish_rtc *r, struct persist_reader *pr)
{
    if (persist_open(pr, "goldfish-rtc", 1) != 0)
        return -1;
    struct goldfish_rtc t;
    t.offset_ns = (int64_t)persist_get_u64(pr);
    t.time_high_latch = persist_get_u32(pr);
    t.set_high = persist_get_u32(pr);
    t.alarm_ns = persist_get_u64(pr);
    t.alarm_high = persist_get_u32(pr);
    t.alarm_armed = persist_get_bool(pr);
    t.irq_enabled = persist_get_bool(pr);
    t.irq_pending = persist_get_bool(pr);
    if (persist_close(pr) != 0)
        return -1;
    pthread_mutex_lock(&r->lock);
    r->offset_ns = t.offset_ns;
    r->time_high_latch = t.time_high_latch;
    r->set_high = t.set_high;
    r->alarm_ns = t.alarm_ns;
    r->alarm_high = t.alarm_high;
    r->alarm_armed = t.alarm_armed;
    r->irq_enabled = t.irq_enabled;
    r->irq_pending = t.irq_pending;
    /* an armed alarm needs its thread; one already past fires at once */
    if (r->alarm_armed && !r->thread_running)
        r->thread_running = thread_create_unsignalled(&r->alarm_thread, alarm_thread, r) == 0;
    update_irq(r);
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void goldfish_rtc_destroy(struct goldfish_rtc *r)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    if (r->thread_running)
        pthread_join(r->alarm_thread, NULL);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
}
