/* test_snapshot_file.c — the state file (header, CRC, version), the memory file (sparse Full,
 * Diff with only the dirty pages, merge) and the snapshot info section. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vm/snapshot.h"
#include "vm/snapshot_file.h"

#define PAGES 64
#define PAGE 4096

static char dir[64];
static char state_path[128], mem_path[128], diff_path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kiln-snapfile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(state_path, sizeof(state_path), "%s/state", dir);
    snprintf(mem_path, sizeof(mem_path), "%s/mem", dir);
    snprintf(diff_path, sizeof(diff_path), "%s/diff", dir);
}

static void teardown(void)
{
    unlink(state_path);
    unlink(mem_path);
    unlink(diff_path);
    rmdir(dir);
}

TestSuite(snapshot_file, .init = setup, .fini = teardown);

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

Test(snapshot_file, state_round_trip)
{
    const char body[] = "every component's state";
    char err[256];
    cr_assert_eq(snapshot_file_write(state_path, body, sizeof(body), err, sizeof(err)), 0, "%s", err);
    void *got;
    size_t len;
    cr_assert_eq(snapshot_file_read(state_path, &got, &len, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(len, sizeof(body));
    cr_assert_arr_eq(got, body, len);
    free(got);
}

Test(snapshot_file, every_flipped_bit_is_caught)
{
    const char body[] = "0123456789abcdef";
    char err[256];
    cr_assert_eq(snapshot_file_write(state_path, body, sizeof(body), err, sizeof(err)), 0);
    uint8_t file[256];
    size_t n = read_file(state_path, file, sizeof(file));
    for (size_t bit = 0; bit < n * 8; bit++) {
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        write_file(state_path, file, n);
        void *got = NULL;
        size_t len;
        cr_assert_eq(snapshot_file_read(state_path, &got, &len, err, sizeof(err)), -1, "bit %zu accepted", bit);
        cr_assert_null(got);
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

Test(snapshot_file, truncated_and_foreign_files_are_refused)
{
    const char body[] = "state";
    char err[256];
    cr_assert_eq(snapshot_file_write(state_path, body, sizeof(body), err, sizeof(err)), 0);
    uint8_t file[256];
    size_t n = read_file(state_path, file, sizeof(file));
    void *got;
    size_t len;
    write_file(state_path, file, n - 1);
    cr_assert_eq(snapshot_file_read(state_path, &got, &len, err, sizeof(err)), -1);
    write_file(state_path, "hello, not a snapshot at all", 28);
    cr_assert_eq(snapshot_file_read(state_path, &got, &len, err, sizeof(err)), -1);
    cr_assert(strstr(err, "not a kiln snapshot") != NULL, "%s", err);
    cr_assert_eq(snapshot_file_read("/nonexistent/state", &got, &len, err, sizeof(err)), -1);
    cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
}

Test(snapshot_file, a_newer_format_version_is_refused_by_name)
{
    const char body[] = "state";
    char err[256];
    cr_assert_eq(snapshot_file_write(state_path, body, sizeof(body), err, sizeof(err)), 0);
    uint8_t file[256];
    size_t n = read_file(state_path, file, sizeof(file));
    file[8] = SNAPSHOT_FORMAT_VERSION + 1;   /* the checksum then fails too: version is checked first */
    write_file(state_path, file, n);
    void *got;
    size_t len;
    cr_assert_eq(snapshot_file_read(state_path, &got, &len, err, sizeof(err)), -1);
    cr_assert(strstr(err, "format version") != NULL, "%s", err);
}

static uint8_t *make_ram(void)
{
    uint8_t *ram = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(ram, MAP_FAILED);
    return ram;
}

static uint64_t data_bytes(const char *path)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    struct stat st;
    fstat(fd, &st);
    uint64_t n = 0;
    off_t pos = 0;
    for (;;) {
        off_t d = lseek(fd, pos, SEEK_DATA);
        if (d < 0)
            break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        n += (uint64_t)(h - d);
        pos = h;
    }
    close(fd);
    return n;
}

Test(snapshot_file, full_memory_file_is_ram_with_zero_pages_as_holes)
{
    uint8_t *ram = make_ram();
    memset(ram + 3 * PAGE, 0x33, PAGE);
    ram[40 * PAGE + 7] = 0x77;
    volatile uint8_t touch = ram[50 * PAGE];   /* read but zero: still a hole */
    (void)touch;
    char err[256];
    cr_assert_eq(snapshot_mem_write(mem_path, ram, PAGES * PAGE, NULL, true, err, sizeof(err)), 0, "%s", err);
    struct stat st;
    stat(mem_path, &st);
    cr_assert_eq(st.st_size, PAGES * PAGE);
    uint8_t *file = malloc(PAGES * PAGE);
    cr_assert_eq(read_file(mem_path, file, PAGES * PAGE), PAGES * PAGE);
    cr_assert_arr_eq(file, ram, PAGES * PAGE);
    /* filesystems without holes (rare for /tmp) would store more: allow for that */
    cr_assert_leq(data_bytes(mem_path), 2 * PAGE + (st.st_blksize > PAGE ? 2 * st.st_blksize : 0));
    free(file);
    munmap(ram, PAGES * PAGE);
}

Test(snapshot_file, diff_holds_only_dirty_pages_and_merges_over_its_base)
{
    uint8_t *ram = make_ram();
    for (int p = 0; p < PAGES; p++)
        memset(ram + p * PAGE, p + 1, PAGE);
    char err[256];
    cr_assert_eq(snapshot_mem_write(mem_path, ram, PAGES * PAGE, NULL, true, err, sizeof(err)), 0);
    /* the guest writes pages 2 and 9; page 9 becomes all zero, which a Diff must still carry */
    memset(ram + 2 * PAGE, 0xee, PAGE);
    memset(ram + 9 * PAGE, 0, PAGE);
    uint64_t dirty[1] = { (1ull << 2) | (1ull << 9) };
    cr_assert_eq(snapshot_mem_write(diff_path, ram, PAGES * PAGE, dirty, true, err, sizeof(err)), 0);
    cr_assert_leq(data_bytes(diff_path), 2 * PAGE + 2 * 4096 * 4, "a diff holds the dirty pages only");
    cr_assert_eq(snapshot_mem_merge(mem_path, diff_path, err, sizeof(err)), 0, "%s", err);
    uint8_t *file = malloc(PAGES * PAGE);
    cr_assert_eq(read_file(mem_path, file, PAGES * PAGE), PAGES * PAGE);
    cr_assert_arr_eq(file, ram, PAGES * PAGE, "base + diff is the RAM at the diff");
    free(file);
    munmap(ram, PAGES * PAGE);
}

Test(snapshot_file, merge_refuses_files_of_different_vms)
{
    uint8_t *ram = make_ram();
    char err[256];
    cr_assert_eq(snapshot_mem_write(mem_path, ram, PAGES * PAGE, NULL, true, err, sizeof(err)), 0);
    cr_assert_eq(snapshot_mem_write(diff_path, ram, (PAGES / 2) * PAGE, NULL, true, err, sizeof(err)), 0);
    cr_assert_eq(snapshot_mem_merge(mem_path, diff_path, err, sizeof(err)), -1);
    cr_assert(strstr(err, "sizes differ") != NULL, "%s", err);
    munmap(ram, PAGES * PAGE);
}

Test(snapshot_file, info_checks_architecture_and_sizes)
{
    struct persist_writer w;
    struct persist_reader r;
    struct snapshot_info in = { .arch = "riscv64", .mem_size = 1 << 20, .vcpus = 2, .type = SNAPSHOT_DIFF,
                                .saved_realtime_ns = 12345 }, out;
    persist_writer_init(&w);
    snapshot_info_save(&in, &w);
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(snapshot_info_restore(&out, &r), 0, "%s", r.err);
    cr_assert_eq(out.mem_size, in.mem_size);
    cr_assert_eq(out.vcpus, 2);
    cr_assert_eq(out.type, SNAPSHOT_DIFF);
    cr_assert_eq(out.saved_realtime_ns, 12345);
    persist_writer_free(&w);

    struct snapshot_info arm = in;
    snprintf(arm.arch, sizeof(arm.arch), "aarch64");
    persist_writer_init(&w);
    snapshot_info_save(&arm, &w);
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(snapshot_info_restore(&out, &r), -1);
    cr_assert(strstr(r.err, "aarch64") != NULL, "%s", r.err);
    persist_writer_free(&w);

    struct snapshot_info odd = in;
    odd.mem_size = 12345;
    persist_writer_init(&w);
    snapshot_info_save(&odd, &w);
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(snapshot_info_restore(&out, &r), -1);
    persist_writer_free(&w);
}

Test(snapshot_file, advance_never_goes_backwards)
{
    uint64_t now = snapshot_realtime_ns();
    cr_assert_eq(snapshot_advance_ns(now + 60ull * 1000000000ull), 0, "a save in the future counts as no time");
    uint64_t a = snapshot_advance_ns(now - 5ull * 1000000000ull);
    cr_assert_geq(a, 5ull * 1000000000ull);
    cr_assert_lt(a, 60ull * 1000000000ull);
}
