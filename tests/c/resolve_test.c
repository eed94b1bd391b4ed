/* vxm_resolve from a C host, against the Rust fake Velox (started by the Rust test
 * tests/it/c_programs.rs, which passes its URL, its journal and the directories
 * in the environment): build then cache hit, a rejected request, cancel from another
 * thread (and the fake sees the upstream call dropped), and freeing the engine under a
 * blocked call. */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "velox_middleware.h"

static int failures = 0;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static const char BINARY[] = "\x7f" "ELF fake roadrunner binary\n";

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "resolve_test: %s is not set (run by tests/it/c_programs.rs)\n",
                name);
        exit(2);
    }
    return v;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *request(const char *tag) {
    static const char fmt[] =
        "{\"rr_version\":\"v2025.1.5\","
        "\"target_platform\":{\"os\":\"linux\",\"arch\":\"amd64\"},"
        "\"plugins\":[{\"module_name\":\"github.com/roadrunner-server/http/v5\",\"tag\":\"%s\"}]}";
    size_t n = sizeof fmt + strlen(tag);
    char *out = malloc(n);
    snprintf(out, n, fmt, tag);
    return out;
}

static vxm_engine *new_engine(void) {
    char config[4096];
    /* build_linger 0: a cancelled call's build is cancelled at once (checked below).
     * verify_builds off: the fake's builds are the fixed BINARY bytes compared below, not
     * Go executables; the Rust tests verify build information. */
    snprintf(config, sizeof config,
             "{\"server_url\":\"%s\",\"build_timeout\":\"30s\",\"request_timeout\":\"30s\","
             "\"build_linger\":\"0s\",\"verify_builds\":false,"
             "\"retry\":{\"max_attempts\":2,\"initial_delay\":\"10ms\",\"max_delay\":\"50ms\"},"
             "\"cache\":{\"enabled\":true,\"directory\":\"%s\"},"
             "\"allowed_build_dirs\":[\"%s\"]}",
             env("VXM_FAKE_URL"), env("VXM_CACHE_DIR"), env("VXM_BUILD_DIR"));
    vxm_engine *engine = NULL;
    vxm_error *err = NULL;
    vxm_status st = vxm_engine_new((const uint8_t *)config, strlen(config), &engine, &err);
    if (st != VXM_STATUS_OK) {
        fprintf(stderr, "vxm_engine_new: %d %s\n", (int)st, err ? vxm_error_message(err) : "");
        exit(1);
    }
    return engine;
}

/* True when the fake's journal holds `line` within `seconds`. */
static int saw_event(const char *line, double seconds) {
    double until = now_s() + seconds;
    char buf[256];
    do {
        FILE *f = fopen(env("VXM_FAKE_EVENTS"), "r");
        if (f != NULL) {
            while (fgets(buf, sizeof buf, f) != NULL) {
                buf[strcspn(buf, "\n")] = '\0';
                if (strcmp(buf, line) == 0) {
                    fclose(f);
                    return 1;
                }
            }
            fclose(f);
        }
        sleep_ms(20);
    } while (now_s() < until);
    return 0;
}

static vxm_status resolve(const vxm_engine *engine, const char *tag, const vxm_cancel *cancel,
                          vxm_artifact **out, vxm_error **err) {
    char *req = request(tag);
    vxm_status st = vxm_resolve(engine, (const uint8_t *)req, strlen(req), cancel, out, err);
    free(req);
    return st;
}

static void test_build_then_cache_hit(vxm_engine *engine) {
    for (uint32_t round = 0; round < 2; round++) {
        vxm_artifact *a = NULL;
        vxm_error *err = NULL;
        vxm_status st = resolve(engine, "v5.3.0", NULL, &a, &err);
        CHECK(st == VXM_STATUS_OK, "status %d: %s", (int)st, err ? vxm_error_message(err) : "");
        if (st != VXM_STATUS_OK) {
            vxm_error_free(err);
            return;
        }
        uint32_t expected = round == 0 ? 1 : 0; /* built now, then a cache hit */
        CHECK(vxm_artifact_source(a) == expected, "source %u", vxm_artifact_source(a));
        CHECK(vxm_artifact_size(a) == sizeof BINARY - 1, "size %llu",
              (unsigned long long)vxm_artifact_size(a));
        char buf[64] = {0};
        ssize_t n = pread(vxm_artifact_fd(a), buf, sizeof buf, 0);
        CHECK(n == (ssize_t)(sizeof BINARY - 1) && memcmp(buf, BINARY, (size_t)n) == 0,
              "read %zd bytes", n);
        CHECK(strlen(vxm_artifact_key(a)) == 64, "key %s", vxm_artifact_key(a));
        vxm_artifact_free(a);
    }
    CHECK(saw_event("call v5.3.0", 1.0), "the fake never saw the build");
}

static void test_rejected_request(vxm_engine *engine) {
    vxm_artifact *a = NULL;
    vxm_error *err = NULL;
    vxm_status st = resolve(engine, "v5.3.0-reject", NULL, &a, &err);
    CHECK(st == VXM_STATUS_UPSTREAM_REJECTED, "status %d", (int)st);
    CHECK(a == NULL, "artifact set on failure");
    CHECK(err != NULL && vxm_error_http_status(err) == 422, "http %u",
          err ? vxm_error_http_status(err) : 0);
    CHECK(err != NULL && strstr(vxm_error_message(err), "rejected") != NULL, "message %s",
          err ? vxm_error_message(err) : "(null)");
    vxm_error_free(err);
}

struct call {
    const vxm_engine *engine;
    const vxm_cancel *cancel;
    const char *tag;
    vxm_status status;
    double returned;
};

static void *call_thread(void *p) {
    struct call *c = p;
    vxm_artifact *a = NULL;
    vxm_error *err = NULL;
    c->status = resolve(c->engine, c->tag, c->cancel, &a, &err);
    c->returned = now_s();
    vxm_artifact_free(a);
    vxm_error_free(err);
    return NULL;
}

/* Starts `c` on its own thread, as a host's request thread, once the fake server has its
 * build call: the call is then blocked on a build that never ends. */
static pthread_t start_hung_call(struct call *c) {
    pthread_t t;
    pthread_create(&t, NULL, call_thread, c);
    char event[64];
    snprintf(event, sizeof event, "call %s", c->tag);
    CHECK(saw_event(event, 5.0), "the build call never arrived");
    return t;
}

static void test_cancel_from_another_thread(vxm_engine *engine) {
    vxm_cancel *cancel = vxm_cancel_new();
    struct call c = {engine, cancel, "v5.3.1-hang", VXM_STATUS_OK, 0};
    pthread_t t = start_hung_call(&c);
    double triggered = now_s();
    vxm_cancel_trigger(cancel);
    pthread_join(t, NULL);
    CHECK(c.status == VXM_STATUS_CANCELLED, "status %d", (int)c.status);
    CHECK(c.returned - triggered < 0.5, "returned %.3fs after the cancel", c.returned - triggered);
    /* Nobody else waited for that build: the upstream request is closed. */
    CHECK(saw_event("dropped v5.3.1-hang", 5.0), "the upstream call was not cancelled");
    vxm_cancel_free(cancel);
}

static void test_free_ends_a_blocked_call(void) {
    vxm_engine *engine = new_engine();
    struct call c = {engine, NULL, "v5.3.2-hang", VXM_STATUS_OK, 0};
    pthread_t t = start_hung_call(&c);
    double freed = now_s();
    vxm_engine_free(engine);
    CHECK(now_s() - freed < 1.0, "vxm_engine_free took %.3fs", now_s() - freed);
    pthread_join(t, NULL);
    CHECK(c.status == VXM_STATUS_SHUTTING_DOWN, "status %d", (int)c.status);
    CHECK(saw_event("dropped v5.3.2-hang", 5.0), "the upstream call was not cancelled");
}

int main(void) {
    vxm_engine *engine = new_engine();
    test_build_then_cache_hit(engine);
    test_rejected_request(engine);
    test_cancel_from_another_thread(engine);
    vxm_engine_free(engine);
    test_free_ends_a_blocked_call();
    if (failures != 0) {
        fprintf(stderr, "resolve_test: %d failure(s)\n", failures);
        return 1;
    }
    printf("resolve_test: ok\n");
    return 0;
}
