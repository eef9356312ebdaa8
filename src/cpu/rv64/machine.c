/* machine.c — what the harts of one VM share: guest RAM, the bus, time and the exit state. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int rv64_machine_init(struct rv64_machine *m, uint64_t ram_size, unsigned nharts, struct bus *bus)
{
    memset(m, 0, sizeof(*m));
    if (nharts == 0 || nharts > RV64_MAX_HARTS || ram_size == 0 || (ram_size & 0xfff))
        return -1;
    m->bus = bus;
    m->nharts = nharts;
    m->ram_size = ram_size;
    /* guest RAM is reserved, not committed: the host only backs pages the guest touches */
    m->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->ram == MAP_FAILED) {
        m->ram = NULL;
        return -1;
    }
    size_t pages = ram_size >> 12;
    m->code_page = calloc(pages, 1);
    m->page_gen = calloc(pages, sizeof(*m->page_gen));
    if (!m->code_page || !m->page_gen)
        goto fail;
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
    if (m->ram)
        munmap(m->ram, m->ram_size);
    m->ram = NULL;
    free(m->code_page);
    free((void *)m->page_gen);
    m->code_page = NULL;
    m->page_gen = NULL;
}

void rv64_machine_exit(struct rv64_machine *m, enum rv64_exit reason, int code)
{
    pthread_mutex_lock(&m->exit_lock);
    int none = RV64_EXIT_NONE;
    if (atomic_compare_exchange_strong(&m->exit_reason, &none, (int)reason))
        m->exit_code = code;
    pthread_cond_broadcast(&m->exit_cond);
    pthread_mutex_unlock(&m->exit_lock);
    for (unsigned i = 0; i < m->nharts; i++)
        if (m->harts[i])
            rv64_hart_kick(m->harts[i], REQ_STOP);
}
