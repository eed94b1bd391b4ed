/* C host test of the velox_middleware ABI: compiled with -std=c11 -Wall -Wextra -Werror
 * against include/velox_middleware.h and linked to the shared library by the Rust test
 * tests/it/c_programs.rs (make c-test). */

#define _XOPEN_SOURCE 700

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "velox_middleware.h"

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                      \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Checks a status and, on a mismatch, prints the error the library gave. */
#define CHECK_STATUS(call, expected, err)                                        \
    do {                                                                         \
        vxm_status got_ = (call);                                                \
        if (got_ != (expected)) {                                                \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n",         \
                    __FILE__, __LINE__, #call, (int)got_, (int)(expected),       \
                    (err) ? vxm_error_message(err) : "no error object");         \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* sha256("MZ this is a RoadRunner build"), the content stored below. */
#define CONTENT_SHA256 "91fda72c5203a7c4fc2ca73727bbed850e5a25ba2984f0642ac1b43edf69ed39"

#define SEED_KEY "df2ccba7540d565268726e19408c60ce4acf709b8a50f78056a8283c46e1ae75"

static const char REQUEST[] =
    "{\"rr_version\":\"v2025.1.2\","
    "\"target_platform\":{\"os\":\"windows\",\"arch\":\"amd64\"},"
    "\"plugins\":[{\"module_name\":\"github.com/roadrunner-server/http/v5\",\"tag\":\"v5.2.7\"},"
    "{\"module_name\":\"github.com/roadrunner-server/grpc/v5\",\"tag\":\"v5.1.0\"}]}";

static const uint8_t *bytes(const char *s) { return (const uint8_t *)s; }

static void check_reads(const vxm_artifact *a, const char *expected, size_t len) {
    char buf[256];
    CHECK(len < sizeof buf);
    int fd = vxm_artifact_fd(a);
    CHECK(fd >= 0);
    CHECK(vxm_artifact_size(a) == len);
    CHECK(pread(fd, buf, sizeof buf, 0) == (ssize_t)len);
    CHECK(memcmp(buf, expected, len) == 0);
}

static void test_version_and_null_arguments(void) {
    const char *v = vxm_version();
    CHECK(v != NULL && v[0] >= '0' && v[0] <= '9' && strchr(v, '.') != NULL);

    vxm_error *err = NULL;
    char *key = NULL;
    CHECK_STATUS(vxm_request_key(NULL, 3, &key, &err), VXM_STATUS_NULL_ARGUMENT, err);
    CHECK(key == NULL);
    CHECK(err != NULL);
    CHECK(vxm_error_status(err) == VXM_STATUS_NULL_ARGUMENT);
    CHECK(strlen(vxm_error_message(err)) > 0);
    vxm_error_free(err);

    /* The error out-argument is optional. */
    CHECK_STATUS(vxm_request_key(bytes(REQUEST), strlen(REQUEST), NULL, NULL),
                 VXM_STATUS_NULL_ARGUMENT, NULL);
    vxm_engine *engine = NULL;
    CHECK_STATUS(vxm_engine_new(NULL, 0, &engine, NULL), VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK(engine == NULL);
    CHECK_STATUS(vxm_engine_new(bytes("{}"), 2, NULL, NULL), VXM_STATUS_NULL_ARGUMENT, NULL);
    vxm_artifact *a = NULL;
    CHECK_STATUS(vxm_cache_lookup(NULL, bytes(REQUEST), strlen(REQUEST), &a, NULL),
                 VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK(a == NULL);
    CHECK_STATUS(vxm_cache_remove(NULL, SEED_KEY, NULL), VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK_STATUS(vxm_cache_cleanup(NULL, NULL), VXM_STATUS_NULL_ARGUMENT, NULL);
    char *json = NULL;
    CHECK_STATUS(vxm_stats_json(NULL, &json, NULL), VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK_STATUS(vxm_engine_health_json(NULL, &json, NULL), VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK_STATUS(vxm_cache_state_json(NULL, bytes(REQUEST), strlen(REQUEST), &json, NULL),
                 VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK_STATUS(vxm_cache_state_json("/tmp", bytes(REQUEST), strlen(REQUEST), NULL, NULL),
                 VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK(json == NULL);

    vxm_artifact *art = NULL;
    vxm_pending *pending = NULL;
    CHECK_STATUS(vxm_resolve_or_pending(NULL, bytes(REQUEST), strlen(REQUEST), NULL, 0, NULL,
                                        &art, &pending, NULL),
                 VXM_STATUS_NULL_ARGUMENT, NULL);
    CHECK(art == NULL && pending == NULL);
    CHECK_STATUS(vxm_resolve_or_pending(NULL, bytes(REQUEST), strlen(REQUEST), NULL, 0, NULL,
                                        &art, NULL, NULL),
                 VXM_STATUS_NULL_ARGUMENT, NULL);

    /* Accessors of a NULL artifact or pending answer answer neutral values. */
    CHECK(vxm_artifact_fd(NULL) == -1);
    CHECK(vxm_artifact_source(NULL) == UINT32_MAX);
    CHECK(vxm_error_status(NULL) == VXM_STATUS_NULL_ARGUMENT);
    CHECK(vxm_error_http_status(NULL) == 500);
    CHECK(strcmp(vxm_error_code(NULL), "") == 0);
    CHECK(vxm_artifact_size(NULL) == 0);
    CHECK(strcmp(vxm_artifact_sha256(NULL), "") == 0);
    CHECK(vxm_pending_http_status(NULL) == 0);
    CHECK(vxm_pending_retry_after(NULL) == 0);
    CHECK(vxm_pending_elapsed_ms(NULL) == 0);
    CHECK(vxm_pending_preference_applied(NULL) == 0);
    CHECK(strcmp(vxm_pending_json(NULL), "") == 0);
    CHECK(strcmp(vxm_pending_key(NULL), "") == 0);

    /* Every _free accepts NULL, and so does shutdown. */
    vxm_engine_shutdown(NULL);
    vxm_engine_free(NULL);
    vxm_artifact_free(NULL);
    vxm_error_free(NULL);
    vxm_string_free(NULL);
    vxm_cancel_free(NULL);
    vxm_pending_free(NULL);
}

static void test_bad_config_names_the_key(void) {
    const char *configs[][2] = {
        {"{\"cache\":{\"enabled\":true,\"max_entriez\":3}}", "max_entriez"},
        {"{\"servr_url\":\"http://127.0.0.1:9\"}", "servr_url"},
        {"{}", "server_url"}, /* no build path: neither a Velox server nor local builds */
        {"{\"server_url\":\"\"}", "server_url"},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        vxm_engine *engine = NULL;
        vxm_error *err = NULL;
        CHECK_STATUS(vxm_engine_new(bytes(configs[i][0]), strlen(configs[i][0]), &engine, &err),
                     VXM_STATUS_INVALID_CONFIG, err);
        CHECK(engine == NULL);
        CHECK(err != NULL);
        CHECK(vxm_error_status(err) == VXM_STATUS_INVALID_CONFIG);
        CHECK(strstr(vxm_error_message(err), configs[i][1]) != NULL);
        vxm_error_free(err);
    }
}

static void test_request_key(void) {
    char *key = NULL;
    vxm_error *err = NULL;
    CHECK_STATUS(vxm_request_key(bytes(REQUEST), strlen(REQUEST), &key, &err), VXM_STATUS_OK, err);
    CHECK(err == NULL);
    CHECK(strcmp(key, SEED_KEY) == 0);
    vxm_string_free(key);

    const char *bad = "{\"rr_version\":\"v2025.1.2\",\"target_platform\":{\"os\":\"plan10\","
                      "\"arch\":\"amd64\"},\"plugins\":[{\"module_name\":"
                      "\"github.com/roadrunner-server/http/v5\",\"tag\":\"v5.2.7\"}]}";
    key = NULL;
    CHECK_STATUS(vxm_request_key(bytes(bad), strlen(bad), &key, &err),
                 VXM_STATUS_INVALID_REQUEST, err);
    CHECK(key == NULL);
    CHECK(strstr(vxm_error_message(err), "target_platform.os") != NULL);
    uint16_t http = vxm_error_http_status(err);
    CHECK(http == 400 || http == 422);
    vxm_error_free(err);
}

/* A host answering a bare status answers what an error object with it says. */
static void test_status_answers(void) {
    CHECK(vxm_status_http(VXM_STATUS_OK) == 200);
    CHECK(strcmp(vxm_status_code(VXM_STATUS_OK), "ok") == 0);
    CHECK(vxm_status_http(VXM_STATUS_INVALID_REQUEST) == 400);
    CHECK(vxm_status_http(VXM_STATUS_CANCELLED) == 499);
    CHECK(vxm_status_http(VXM_STATUS_SHUTTING_DOWN) == 503);
    CHECK(strcmp(vxm_status_code(VXM_STATUS_SHUTTING_DOWN), "shutting_down") == 0);
    CHECK(vxm_status_http(VXM_STATUS_IO) == 500);
    CHECK(strcmp(vxm_status_code(VXM_STATUS_IO), "io") == 0);
    /* Static: the same pointer every time, never freed. */
    CHECK(vxm_status_code(VXM_STATUS_TIMEOUT) == vxm_status_code(VXM_STATUS_TIMEOUT));
    /* A value outside the enum (a host bug) still gets a defined answer. */
    CHECK(vxm_status_http(1000) == 500);
    CHECK(strcmp(vxm_status_code(1000), "unknown") == 0);
    CHECK(vxm_status_http(UINT32_MAX) == 500);
    CHECK(strcmp(vxm_status_code(UINT32_MAX), "unknown") == 0);

    char *key = NULL;
    vxm_error *err = NULL;
    CHECK_STATUS(vxm_request_key(bytes("{"), 1, &key, &err), VXM_STATUS_INVALID_REQUEST, err);
    vxm_status st = vxm_error_status(err);
    CHECK(vxm_error_http_status(err) == vxm_status_http(st));
    CHECK(strcmp(vxm_error_code(err), vxm_status_code(st)) == 0);
    vxm_error_free(err);
}

/* The limit a host applies is the one the library enforces. */
static void test_request_limit(void) {
    size_t max = vxm_request_max_bytes();
    CHECK(max == 1024 * 1024);
    CHECK(max == VXM_REQUEST_MAX_BYTES);
    char *body = malloc(max + 1);
    CHECK(body != NULL);
    memset(body, ' ', max + 1);
    memcpy(body, REQUEST, strlen(REQUEST));
    char *key = NULL;
    vxm_error *err = NULL;
    CHECK_STATUS(vxm_request_key(bytes(body), max, &key, &err), VXM_STATUS_OK, err);
    CHECK(strcmp(key, SEED_KEY) == 0);
    vxm_string_free(key);
    key = NULL;
    CHECK_STATUS(vxm_request_key(bytes(body), max + 1, &key, &err), VXM_STATUS_INVALID_REQUEST,
                 err);
    CHECK(key == NULL);
    vxm_error_free(err);
    free(body);
}

struct lookers {
    const vxm_engine *engine;
    int hits;
};

static void *look_up_many(void *arg) {
    struct lookers *l = arg;
    for (int i = 0; i < 200; i++) {
        vxm_artifact *a = NULL;
        if (vxm_cache_lookup(l->engine, bytes(REQUEST), strlen(REQUEST), &a, NULL) ==
            VXM_STATUS_OK) {
            l->hits++;
            vxm_artifact_free(a);
        }
    }
    return NULL;
}

static void write_file(const char *path, const char *content) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(content, 1, strlen(content), f) == strlen(content));
    CHECK(fclose(f) == 0);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_cache_through_an_engine(void) {
    char root[] = "/tmp/vxm-abi-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char config[512], build_dir[256], binary[300];
    snprintf(config, sizeof config,
             /* server_url is required, and never contacted here: only the cache is used.
                The files stored are text, not Go executables: with verify_builds on, the
                background provenance check would move them aside at the next open. */
             "{\"server_url\":\"http://127.0.0.1:9\",\"verify_builds\":false,"
             "\"cache\":{\"enabled\":true,\"directory\":\"%s/cache\","
             "\"access_update_interval\":\"1h\",\"eviction_policy\":\"lfu\"}}",
             root);
    snprintf(build_dir, sizeof build_dir, "%s/build", root);
    snprintf(binary, sizeof binary, "%s/roadrunner.exe", build_dir);
    CHECK(mkdir(build_dir, 0755) == 0);
    static const char CONTENT[] = "MZ this is a RoadRunner build";
    write_file(binary, CONTENT);

    vxm_engine *engine = NULL;
    vxm_error *err = NULL;
    CHECK_STATUS(vxm_engine_new(bytes(config), strlen(config), &engine, &err), VXM_STATUS_OK, err);
    CHECK(engine != NULL);

    /* A miss is NOT_FOUND without an error object. */
    vxm_artifact *a = NULL;
    CHECK_STATUS(vxm_cache_lookup(engine, bytes(REQUEST), strlen(REQUEST), &a, &err),
                 VXM_STATUS_NOT_FOUND, err);
    CHECK(a == NULL);
    CHECK(err == NULL);

    /* Store: the artifact is the stored binary, built now. */
    CHECK_STATUS(vxm_cache_store(engine, bytes(REQUEST), strlen(REQUEST), binary, 61234, &a, &err),
                 VXM_STATUS_OK, err);
    CHECK(vxm_artifact_source(a) == VXM_ARTIFACT_SOURCE_KIND_BUILT);
    CHECK(strcmp(vxm_artifact_key(a), SEED_KEY) == 0);
    check_reads(a, CONTENT, strlen(CONTENT));
    /* The cache owns its bytes: a copy (never a hard link), 0644 like its source had no
     * exec bit, with the SHA-256 of the content. */
    struct stat src_st, art_st;
    CHECK(stat(binary, &src_st) == 0);
    CHECK(fstat(vxm_artifact_fd(a), &art_st) == 0);
    CHECK(src_st.st_ino != art_st.st_ino);
    CHECK((art_st.st_mode & 07777) == 0644);
    CHECK(strcmp(vxm_artifact_sha256(a), CONTENT_SHA256) == 0);
    vxm_artifact_free(a);

    /* Hit. */
    a = NULL;
    CHECK_STATUS(vxm_cache_lookup(engine, bytes(REQUEST), strlen(REQUEST), &a, &err),
                 VXM_STATUS_OK, err);
    CHECK(vxm_artifact_source(a) == VXM_ARTIFACT_SOURCE_KIND_HIT);
    CHECK(strcmp(vxm_artifact_key(a), SEED_KEY) == 0);
    CHECK(strcmp(vxm_artifact_sha256(a), CONTENT_SHA256) == 0);
    check_reads(a, CONTENT, strlen(CONTENT));
    const char *path = vxm_artifact_path(a);
    CHECK(strstr(path, SEED_KEY ".bin") != NULL);

    /* Concurrent lookups on one engine. */
    pthread_t threads[4];
    struct lookers lookers[4];
    for (int i = 0; i < 4; i++) {
        lookers[i].engine = engine;
        lookers[i].hits = 0;
        CHECK(pthread_create(&threads[i], NULL, look_up_many, &lookers[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(lookers[i].hits == 200);
    }

    char *stats = NULL;
    CHECK_STATUS(vxm_stats_json(engine, &stats, &err), VXM_STATUS_OK, err);
    const char *keys[] = {"\"entries\"", "\"bytes\"", "\"hits\"", "\"misses\"", "\"builds\"",
                          "\"joined\"", "\"evictions\"", "\"upstream_errors\""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK(strstr(stats, keys[i]) != NULL);
    }
    CHECK(strstr(stats, "\"entries\":1") != NULL);
    /* The whole directory, as recorded by the store. */
    CHECK(strstr(stats, "\"dir_entries\":1") != NULL);
    CHECK(strstr(stats, "\"dir_bytes\":29") != NULL);
    CHECK(strstr(stats, "\"hits\":801") != NULL);
    CHECK(strstr(stats, "\"misses\":1") != NULL);
    /* Every eviction reason, before any eviction. */
    const char *reasons[] = {"\"size\":0", "\"count\":0", "\"age\":0", "\"manual\":0"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        CHECK(strstr(stats, reasons[i]) != NULL);
    }
    vxm_string_free(stats);

    /* Health: a usable cache directory, a build path, not stopping. */
    char *health = NULL;
    CHECK_STATUS(vxm_engine_health_json(engine, &health, &err), VXM_STATUS_OK, err);
    CHECK(strstr(health, "\"healthy\":true") != NULL);
    CHECK(strstr(health, "\"ready\":true") != NULL);
    CHECK(strstr(health, "\"build_path\":\"") != NULL);
    vxm_string_free(health);
    /* The engine-less query sees the entry (sha256: null, or the digest when the
     * metadata records one). */
    char cache_dir[300], *state = NULL;
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", root);
    CHECK_STATUS(vxm_cache_state_json(cache_dir, bytes(REQUEST), strlen(REQUEST), &state, &err),
                 VXM_STATUS_OK, err);
    static const char CACHED[] =
        "{\"state\":\"cached\",\"key\":\"" SEED_KEY "\",\"size\":29,\"sha256\":";
    CHECK(strncmp(state, CACHED, strlen(CACHED)) == 0);
    vxm_string_free(state);

    /* Removal: gone from the cache, still readable through the artifact's fd. */
    CHECK_STATUS(vxm_cache_remove(engine, SEED_KEY, &err), VXM_STATUS_OK, err);
    check_reads(a, CONTENT, strlen(CONTENT));
    CHECK_STATUS(vxm_cache_remove(engine, SEED_KEY, &err), VXM_STATUS_NOT_FOUND, err);
    CHECK(access(path, F_OK) != 0);
    vxm_artifact *b = NULL;
    CHECK_STATUS(vxm_cache_lookup(engine, bytes(REQUEST), strlen(REQUEST), &b, &err),
                 VXM_STATUS_NOT_FOUND, err);
    vxm_artifact_free(a);

    CHECK_STATUS(vxm_cache_remove(engine, "not-a-key", &err), VXM_STATUS_INVALID_REQUEST, err);
    vxm_error_free(err);
    err = NULL;
    CHECK_STATUS(vxm_cache_remove(engine, NULL, &err), VXM_STATUS_NULL_ARGUMENT, err);
    vxm_error_free(err);
    err = NULL;

    /* Store again, keep the artifact past the engine. */
    CHECK_STATUS(vxm_cache_store(engine, bytes(REQUEST), strlen(REQUEST), binary, 1, &a, &err),
                 VXM_STATUS_OK, err);
    CHECK_STATUS(vxm_cache_cleanup(engine, &err), VXM_STATUS_OK, err);
    vxm_engine_free(engine);
    check_reads(a, CONTENT, strlen(CONTENT));
    vxm_artifact_free(a);

    /* A store of a missing file fails with IO and leaves the cache as it was. */
    CHECK_STATUS(vxm_engine_new(bytes(config), strlen(config), &engine, &err), VXM_STATUS_OK, err);
    char missing[320];
    snprintf(missing, sizeof missing, "%s/nope", build_dir);
    a = NULL;
    CHECK_STATUS(vxm_cache_store(engine, bytes(REQUEST), strlen(REQUEST), missing, 1, &a, &err),
                 VXM_STATUS_IO, err);
    CHECK(a == NULL);
    CHECK(vxm_error_status(err) == VXM_STATUS_IO);
    vxm_error_free(err);
    err = NULL;
    /* The entry stored before the restart is still served. */
    CHECK_STATUS(vxm_cache_lookup(engine, bytes(REQUEST), strlen(REQUEST), &a, &err),
                 VXM_STATUS_OK, err);
    check_reads(a, CONTENT, strlen(CONTENT));
    vxm_artifact_free(a);

    /* Shut down, twice: later calls are refused until the free; artifacts stay valid. */
    CHECK_STATUS(vxm_cache_lookup(engine, bytes(REQUEST), strlen(REQUEST), &a, &err),
                 VXM_STATUS_OK, err);
    vxm_engine_shutdown(engine);
    vxm_engine_shutdown(engine);
    vxm_artifact *late = NULL;
    CHECK_STATUS(vxm_cache_lookup(engine, bytes(REQUEST), strlen(REQUEST), &late, &err),
                 VXM_STATUS_SHUTTING_DOWN, err);
    CHECK(late == NULL);
    CHECK(vxm_error_http_status(err) == 503);
    vxm_error_free(err);
    err = NULL;
    vxm_engine_free(engine);
    check_reads(a, CONTENT, strlen(CONTENT));
    vxm_artifact_free(a);

    CHECK(nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

int main(void) {
    test_version_and_null_arguments();
    test_bad_config_names_the_key();
    test_request_key();
    test_status_answers();
    test_request_limit();
    test_cache_through_an_engine();
    printf("abi_test: ok\n");
    return 0;
}
