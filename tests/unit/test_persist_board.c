/* test_persist_board.c — the virt board's save and restore (machine, PLIC, UART, RTC) and the
 * dirty marking of device writes. */
#include <criterion/criterion.h>
#include <string.h>
#include "board/virt.h"
#include "common/persist.h"
#include "cpu/rv64/backend.h"
#include "vm/guest_ram.h"

#define RAM_SIZE (16ull << 20)
#define MTIME_OFF (44 + 4 + 8 + 1)  /* mtime inside the first (machine) section */

static struct guest_ram RAM1, RAM2;
static struct virt_board B1, B2;

static void make_board(struct virt_board *b, struct guest_ram *ram, unsigned cpus)
{
    cr_assert_eq(guest_ram_create(ram, RAM_SIZE), 0);
    struct board_params p = { .backend = &rv64_backend, .cpus = cpus, .ram = ram->host, .ram_size = RAM_SIZE };
    cr_assert_eq(virt_board_init(b, &p), 0);
}

static struct rv64_machine *machine(struct virt_board *b)
{
    return rv64_machine_of(b->base.cpus);
}

/* what the VM does: the vCPUs' state, then the board's devices */
static int restore_board(struct virt_board *b, struct persist_reader *r)
{
    if (vcpus_restore(b->base.cpus, r, 0) != 0 || virt_board_restore(b, r) != 0)
        return -1;
    return 0;
}

static void setup(void) { make_board(&B1, &RAM1, 2); }
static void teardown(void)
{
    virt_board_destroy(&B1);
    guest_ram_destroy(&RAM1);
}

TestSuite(persist_board, .init = setup, .fini = teardown);

static void plic_w(struct virt_board *b, uint64_t off, uint32_t v)
{
    struct mmio_region r = plic_region(&b->plic, VIRT_PLIC_BASE);
    r.write(r.opaque, off, v, 4);
}

static uint8_t uart_r(struct virt_board *b, uint64_t off)
{
    struct mmio_region r = uart16550_region(&b->uart, VIRT_UART_BASE);
    return (uint8_t)r.read(r.opaque, off, 1);
}

static void uart_w(struct virt_board *b, uint64_t off, uint8_t v)
{
    struct mmio_region r = uart16550_region(&b->uart, VIRT_UART_BASE);
    r.write(r.opaque, off, v, 1);
}

/* Some state in every device: hart 1's S context takes the UART's interrupt, which is pending. */
static void busy_board(struct virt_board *b)
{
    plic_w(b, 4 * VIRT_UART_IRQ, 5);                  /* priority */
    plic_w(b, 4 * 3, 2);
    plic_w(b, 0x2000 + 0x80 * 3, 1u << VIRT_UART_IRQ); /* context 3 = hart 1, S */
    plic_w(b, 0x200000 + 0x1000 * 3, 1);              /* threshold */
    uart_w(b, 3, 0x03);                               /* LCR 8N1 */
    uart_w(b, 7, 0x42);                               /* scratch */
    uart_w(b, 1, 0x01);                               /* IER: receive interrupt */
    cr_assert_eq(uart16550_receive(&b->uart, (const uint8_t *)"hello", 5), 5);
    b->rtc.offset_ns = -123456789;
    b->rtc.irq_enabled = true;
    machine(b)->harts[1]->x[5] = 77;
}

static void save_board(struct virt_board *b, struct persist_writer *w)
{
    persist_writer_init(w);
    vcpus_save(b->base.cpus, w);
    virt_board_save(b, w);
    cr_assert(persist_writer_ok(w));
}

Test(persist_board, round_trip_is_identical_but_for_mtime)
{
    busy_board(&B1);
    struct persist_writer w1, w2;
    save_board(&B1, &w1);
    make_board(&B2, &RAM2, 2);
    struct persist_reader r;
    persist_reader_init(&r, w1.buf, w1.len);
    cr_assert_eq(restore_board(&B2, &r), 0, "%s", r.err);
    cr_assert_eq(r.pos, r.len, "every section was read");
    save_board(&B2, &w2);
    cr_assert_eq(w1.len, w2.len);
    memset(w1.buf + MTIME_OFF, 0, 8);
    memset(w2.buf + MTIME_OFF, 0, 8);
    cr_assert_arr_eq(w1.buf, w2.buf, w1.len);
    persist_writer_free(&w1);
    persist_writer_free(&w2);
    virt_board_destroy(&B2);
    guest_ram_destroy(&RAM2);
}

Test(persist_board, restored_devices_behave)
{
    busy_board(&B1);
    struct persist_writer w;
    save_board(&B1, &w);
    make_board(&B2, &RAM2, 2);
    cr_assert_eq(atomic_load(&machine(&B2)->harts[1]->mip) & MIP_SEIP, 0);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(restore_board(&B2, &r), 0, "%s", r.err);
    cr_assert_neq(atomic_load(&machine(&B2)->harts[1]->mip) & MIP_SEIP, 0, "the PLIC drives its line again");
    cr_assert_eq(machine(&B2)->harts[1]->x[5], 77);
    char got[6] = { 0 };
    for (int i = 0; i < 5; i++)
        got[i] = (char)uart_r(&B2, 0);
    cr_assert_str_eq(got, "hello", "the receive FIFO survives");
    cr_assert_eq(uart_r(&B2, 7), 0x42);
    cr_assert_eq(B2.rtc.offset_ns, -123456789);
    persist_writer_free(&w);
    virt_board_destroy(&B2);
    guest_ram_destroy(&RAM2);
}

Test(persist_board, truncated_state_is_refused)
{
    busy_board(&B1);
    struct persist_writer w;
    save_board(&B1, &w);
    make_board(&B2, &RAM2, 2);
    for (size_t len = 0; len < w.len; len += 13) {
        struct persist_reader r;
        persist_reader_init(&r, w.buf, len);
        cr_assert_eq(restore_board(&B2, &r), -1, "length %zu", len);
        cr_assert_str_not_empty(r.err);
    }
    persist_writer_free(&w);
    virt_board_destroy(&B2);
    guest_ram_destroy(&RAM2);
}

Test(persist_board, wrong_cpu_count_is_refused)
{
    struct persist_writer w;
    save_board(&B1, &w);
    make_board(&B2, &RAM2, 1);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(restore_board(&B2, &r), -1);
    cr_assert_str_not_empty(r.err);
    persist_writer_free(&w);
    virt_board_destroy(&B2);
    guest_ram_destroy(&RAM2);
}

/* ---- single devices: corrupt values ---- */

static int restore_plic(struct plic *p, struct persist_writer *w)
{
    struct persist_reader r;
    persist_reader_init(&r, w->buf, w->len);
    return plic_restore(p, &r);
}

Test(persist_board, plic_bad_values_are_refused)
{
    struct persist_writer w;
    /* layout: header 44, ncontexts 4, then per source priority u32 + 3 bools */
    const size_t src0 = 48, per_src = 7;
    persist_writer_init(&w);
    plic_save(&B1.plic, &w);
    w.buf[src0 + per_src * 10] = 8;                      /* priority 8 */
    cr_assert_eq(restore_plic(&B1.plic, &w), -1);
    w.buf[src0 + per_src * 10] = 7;
    cr_assert_eq(restore_plic(&B1.plic, &w), 0);
    w.buf[src0 + per_src * 10 + 4] = 2;                  /* a bool that is 2 */
    cr_assert_eq(restore_plic(&B1.plic, &w), -1);
    w.buf[src0 + per_src * 10 + 4] = 0;
    w.buf[src0 + 5] = 1;                                 /* source 0 pending */
    cr_assert_eq(restore_plic(&B1.plic, &w), -1);
    w.buf[src0 + 5] = 0;
    w.buf[44] = 3;                                       /* 3 contexts, this PLIC has 4 */
    cr_assert_eq(restore_plic(&B1.plic, &w), -1);
    persist_writer_free(&w);
}

static int restore_uart(struct uart16550 *u, struct persist_writer *w, struct persist_reader *r)
{
    persist_reader_init(r, w->buf, w->len);
    return uart16550_restore(u, r);
}

Test(persist_board, uart_bad_values_are_refused)
{
    struct persist_writer w;
    struct persist_reader r;
    persist_writer_init(&w);
    uart16550_save(&B1.uart, &w);
    w.buf[44] = 0x10;                                    /* IER bit 4 */
    cr_assert_eq(restore_uart(&B1.uart, &w, &r), -1);
    w.buf[44] = 0;
    w.buf[46] = 0x20;                                    /* MCR bit 5 */
    cr_assert_eq(restore_uart(&B1.uart, &w, &r), -1);
    w.buf[46] = 0;
    uint16_t n = 257;                                    /* more than the FIFO holds */
    memcpy(w.buf + 52, &n, 2);
    cr_assert_eq(restore_uart(&B1.uart, &w, &r), -1);
    cr_assert(strstr(r.err, "FIFO") != NULL, "%s", r.err);
    n = 0;
    memcpy(w.buf + 52, &n, 2);
    cr_assert_eq(restore_uart(&B1.uart, &w, &r), 0, "%s", r.err);
    persist_writer_free(&w);
}

Test(persist_board, rtc_round_trip_and_bad_bool)
{
    B1.rtc.alarm_ns = 5;
    B1.rtc.irq_pending = true;
    struct persist_writer w;
    persist_writer_init(&w);
    goldfish_rtc_save(&B1.rtc, &w);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(goldfish_rtc_restore(&B1.rtc, &r), 0, "%s", r.err);
    cr_assert(B1.rtc.irq_pending);
    w.buf[w.len - 1] = 9;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(goldfish_rtc_restore(&B1.rtc, &r), -1);
    persist_writer_free(&w);
}

/* ---- dirty pages from device writes ---- */

Test(persist_board, device_write_marks_dirty)
{
    uint64_t log[(RAM_SIZE >> 12) / 64];
    cr_assert_eq(vcpus_dirty_enable(B1.base.cpus, true), 0);
    uint8_t *p = guest_mem_ptr(&B1.base.mem, VIRT_RAM_BASE + 0x5ff0, 0x20);
    cr_assert_not_null(p);
    memset(p, 1, 0x20);
    guest_mem_written(&B1.base.mem, p, 0x20);
    vcpus_dirty_harvest(B1.base.cpus, log);
    cr_assert_eq(log[0], (1ull << 5) | (1ull << 6), "%#llx", (unsigned long long)log[0]);
    for (size_t i = 1; i < sizeof(log) / sizeof(log[0]); i++)
        cr_assert_eq(log[i], 0);
}
