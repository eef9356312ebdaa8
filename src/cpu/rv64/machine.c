/* machine.c — what the harts of one VM share: guest RAM, the bus, time and the exit state. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cpu/rv64/hart.h"

uint64_t rv64_host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t rv64_time(const struct rv64_machine *m)
{
    return (rv64_host_ns() - m->time_base_ns) / (1000000000ull / RV64_TIMEBASE_HZ);
}

static size_t dirty_words(const struct rv64_machine *m)
{
    return ((m->ram_size >> 12) + 63) / 64;
}

int rv64_machine_init(struct rv64_machine *m, uint8_t *ram, uint64_t ram_size, unsigned nharts,
                      struct bus *bus)
{
    memset(m, 0, sizeof(*m));
    if (!ram || nharts == 0 || nharts > RV64_MAX_HARTS || ram_size == 0 || (ram_size & 0xfff))
        return -1;
    m->bus = bus;
    m->nharts = nharts;
    m->ram = ram;
    m->ram_size = ram_size;
    size_t pages = ram_size >> 12;
    m->code_page = calloc(pages, 1);
    m->page_gen = calloc(pages, sizeof(*m->page_gen));
    /* always there (32 KiB per GiB of RAM), so marking never races with an allocation */
    m->dirty = calloc(dirty_words(m), sizeof(*m->dirty));
    if (!m->code_page || !m->page_gen || !m->dirty)
        goto fail;
    pthread_mutex_init(&m->pause_lock, NULL);
    pthread_cond_init(&m->pause_cond, NULL);
    pthread_mutex_init(&m->exit_lock, NULL);
    pthread_cond_init(&m->exit_cond, NULL);
    m->time_base_ns = rv64_host_ns();
    for (unsigned i = 0; i < nharts; i++) {
        m->harts[i] = calloc(1, sizeof(struct rv64_hart));
        if (!m->harts[i] || rv64_hart_init(m->harts[i], m, i) != 0)
            goto fail;
    }
    return 0;
fail:
    rv64_machine_destroy(m);
    return -1;
}

void rv64_machine_destroy(struct rv64_machine *m)
{
    for (unsigned i = 0; i < m->nharts; i++) {
        if (m->harts[i]) {
            rv64_hart_destroy(m->harts[i]);
            free(m->harts[i]);
            m->harts[i] = NULL;
        }
    }
    m->ram = NULL;
    free(m->code_page);
    free((void *)m->page_gen);
    free((void *)m->dirty);
    m->code_page = NULL;
    m->page_gen = NULL;
    m->dirty = NULL;
}

/* The harts are paused (see hart.h): their TLBs can be flushed from here. */
static void flush_all_tlbs(struct rv64_machine *m)
{
    for (unsigned i = 0; i < m->nharts; i++)
        rv64_tlb_flush(m->harts[i]);
}

int rv64_machine_dirty_enable(struct rv64_machine *m, bool on)
{
    if (!m->dirty)
        return -1;
    if (on) {
        for (size_t i = 0; i < dirty_words(m); i++)
            atomic_store_explicit(&m->dirty[i], 0, memory_order_relaxed);
        /* write TLB entries filled while tracking was off were never marked */
        flush_all_tlbs(m);
    }
    atomic_store(&m->dirty_tracking, on);
    return 0;
}

void rv64_machine_dirty_harvest(struct rv64_machine *m, uint64_t *out)
{
    for (size_t i = 0; i < dirty_words(m); i++)
        out[i] = atomic_exchange(&m->dirty[i], 0);
    /* a write TLB entry exists only for a page marked when it was filled: drop them all, so
     * the next store to any page goes through the slow path and marks it again */
    flush_all_tlbs(m);
}

void rv64_mark_dirty_range(struct rv64_machine *m, uint64_t paddr, uint64_t len)
{
    if (!len || paddr < RV64_RAM_BASE || paddr - RV64_RAM_BASE >= m->ram_size)
        return;
    uint64_t first = (paddr - RV64_RAM_BASE) >> 12;
    uint64_t end = paddr - RV64_RAM_BASE + len;
    if (end > m->ram_size || end < len)
        end = m->ram_size;
    uint64_t last = (end - 1) >> 12;
    for (uint64_t p = first; p <= last; p++)
        if (!(atomic_load_explicit(&m->dirty[p / 64], memory_order_relaxed) & (1ull << (p % 64))))
            atomic_fetch_or_explicit(&m->dirty[p / 64], 1ull << (p % 64), memory_order_relaxed);
}

/* A hart is out of the way when it is parked or has never been started (SBI HSM): a stopped
 * hart cannot be started while every running hart is parked. Counted per hart: a hart that
 * stopped itself (HSM hart_stop) while a pause was pending parks, and is both. */
static unsigned harts_out_of_the_way(struct rv64_machine *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->nharts; i++)
        if (atomic_load(&m->harts[i]->parked) || atomic_load(&m->harts[i]->state) == HART_STOPPED)
            n++;
    return n;
}

void rv64_machine_pause(struct rv64_machine *m)
{
    pthread_mutex_lock(&m->pause_lock);
    atomic_store(&m->pause_requested, true);
    while (harts_out_of_the_way(m) < m->nharts && !atomic_load(&m->exit_reason)) {
        /* kick again each round: a hart started by HSM after the first kick must stop too */
        for (unsigned i = 0; i < m->nharts; i++)
            rv64_hart_kick(m->harts[i], REQ_STOP);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->pause_cond, &m->pause_lock, &ts);
    }
    pthread_mutex_unlock(&m->pause_lock);
}

void rv64_machine_resume(struct rv64_machine *m)
{
    pthread_mutex_lock(&m->pause_lock);
    atomic_store(&m->pause_requested, false);
    pthread_cond_broadcast(&m->pause_cond);
    pthread_mutex_unlock(&m->pause_lock);
}

void rv64_machine_exit(struct rv64_machine *m, enum rv64_exit reason, int code)
{
    pthread_mutex_lock(&m->exit_lock);
    int none = RV64_EXIT_NONE;
    if (atomic_compare_exchange_strong(&m->exit_reason, &none, (int)reason))
        m->exit_code = code;
    pthread_cond_broadcast(&m->exit_cond);
    pthread_mutex_unlock(&m->exit_lock);
    pthread_mutex_lock(&m->pause_lock);    /* parked harts must see the exit */
    pthread_cond_broadcast(&m->pause_cond);
    pthread_mutex_unlock(&m->pause_lock);
    for (unsigned i = 0; i < m->nharts; i++)
        if (m->harts[i])
            rv64_hart_kick(m->harts[i], REQ_STOP);
}
