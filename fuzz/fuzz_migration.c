/* fuzz_migration.c — the destination side of a live migration (src/vm/migration_link.c's
 * framing and src/vm/vmm_migrate.c's receiver: HELLO with the source's info and configuration,
 * PAGES, ZERO runs, then STATE) reading a stream the input is. The stream arrives on a
 * socketpair, as over unix:PATH; the configuration goes through the API's handlers with its
 * paths moved out of harm's way (fuzz_api.h). A STATE message ends the run after its info
 * section: building and starting the VM from it is fuzz_state's part. */
#include <sys/socket.h>
#include "api/state_api.h"
#include "fuzz_api.h"
#include "vm/vmm_migrate.c"

static struct routes *routes;

static int apply_config(void *cls, const char *json, char *err, size_t errlen)
{
    (void)cls;
    json_error_t e;
    json_t *cfg = json_loads(json, JSON_REJECT_DUPLICATES, &e);
    if (!cfg)
        return api_fail(err, errlen, "the source's configuration is invalid JSON");
    fuzz_sanitize_paths(cfg);
    int rc = api_apply_saved_config(routes, cfg, "the source's configuration", err, errlen);
    json_decref(cfg);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_api_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vmm *slot;
    struct vmm *v = fuzz_fresh_vmm(&slot);
    routes = routes_new(v, "fuzz", NULL, NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        abort();
    /* what fits in the socket's buffer is the stream (the rest is cut: a source that vanished) */
    if (size)
        (void)!send(sv[1], data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(sv[1], SHUT_WR);

    char err[1024] = "";
    struct receiver r = { .fd = sv[0], .ram = { .fd = -1 }, .err = err, .errlen = sizeof(err) };
    struct migration_receive_hooks hooks = { apply_config, NULL };
    int rc = accept_hello(&r, v, &hooks);
    while (!rc) {
        int t = recv_msg(&r, 1000);
        if (t == MIG_PAGES) {
            rc = store_pages(&r);
        } else if (t == MIG_ZERO) {
            rc = store_zero_runs(&r);
        } else if (t == MIG_STATE) {
            struct persist_reader pr;
            struct snapshot_info info;
            persist_reader_init(&pr, r.buf, r.len);
            snapshot_info_restore(&info, &pr);
            break;
        } else {
            rc = -1;
        }
    }
    if (rc)
        FUZZ_CHECK(memchr(err, 0, sizeof(err)), "message not terminated");
    guest_ram_destroy(&r.ram);
    free(r.written);
    free(r.buf);
    close(sv[0]);
    close(sv[1]);
    routes_free(routes);
    fuzz_api_reset();
    return 0;
}
