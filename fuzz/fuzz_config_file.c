/* fuzz_config_file.c — Firecracker's --config-file reader (src/api/config_file.c) on any
 * bytes, read from an in-memory file as kiln reads the real one, applied to a vmm that is
 * never started. Paths inside a well-formed document are moved out of harm's way first
 * (fuzz_api.h); anything that is not JSON goes in as it is. */
#include "api/config_file.h"
#include "fuzz_api.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_api_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    char *text = NULL;
    if (j) {
        fuzz_sanitize_paths(j);
        text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
    }
    char path[64];
    int fd = fuzz_memfd(text ? (const uint8_t *)text : data, text ? strlen(text) : size, path, sizeof(path));
    free(text);

    static struct vmm *slot;
    struct vmm *v = fuzz_fresh_vmm(&slot);
    struct routes *r = routes_new(v, "fuzz", NULL, NULL);
    char err[1024];
    memset(err, 0x55, sizeof(err));
    enum config_file_status st = config_file_apply(r, path, err, sizeof(err));
    FUZZ_CHECK(st == CONFIG_FILE_OK || st == CONFIG_FILE_INVALID, "status %d: %s", st, err);
    if (st != CONFIG_FILE_OK)
        FUZZ_CHECK(memchr(err, 0, sizeof(err)), "message not terminated");
    routes_free(r);
    close(fd);
    fuzz_api_reset();
    return 0;
}
