/*
 * Peer server on uWebSockets (C, through uWebSockets' C API): /ws/echo and the /ws/v1 fan-out
 * stand-in of peer_protocol.py, for scripts/bench-compare. Single-threaded: one uWS app, one loop.
 *
 * Usage: uws_peer --port PORT [--cert CERT --key KEY] [--ready-file FILE] [--fanout loop|pubsub]
 *
 * The library is not built here: it is the prebuilt libsocketify_linux_amd64.so shipped in the
 * PyPI package `socketify` (pinned in ../requirements.txt), which contains uWebSockets, uSockets
 * (on libuv) and BoringSSL and exports uWebSockets' C API. compare.py compiles this file with gcc
 * against that file at bench time (see docs/benchmarks.md, "The peers").
 *
 * What it does per message, next to the Python peers:
 *   /ws/echo  sends every text or binary message back unchanged (uWS answers pings and closes);
 *   /ws/v1    sends `hello` on open, answers `public/auth` (anything accepted), `subscribe`
 *             (channels kept in our own subscriber lists, as peer_protocol.FanoutHub does) and
 *             `private/order.place`, where each IOC buy is one `trades.<instrument>` notification,
 *             serialised once and sent to each subscriber with uws_ws_send (the Python peers loop
 *             over their subscribers the same way). With --fanout pubsub, uWS's own topic tree
 *             is used instead (uws_ws_subscribe / uws_publish), which batches deliveries per loop
 *             iteration: the idiomatic uWS way, which compare.py runs as `uwebsockets-pubsub`.
 * The JSON handling is a shortcut: requests are walked structurally (objects, arrays, strings are
 * skipped without decoding), only the few members the protocol needs are located, and their raw
 * text is copied into replies. It validates nothing and allocates nothing per request, so it does
 * less work than the Python peers' json.loads/json.dumps, never more.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------
 * Declarations of the library's C API, written here because the package ships no header. They
 * MUST match the ABI of libsocketify_linux_amd64.so from socketify 0.0.31 (field order and types
 * of the structs passed by value, and the signatures), as that package's cffi declarations state
 * it. Only what this program uses is declared. Check again when the socketify pin changes.
 * ------------------------------------------------------------------------------------------- */

/* TLS files for uws_create_app (ignored when ssl is 0); seven members, in this order. */
struct us_socket_context_options_t {
    const char *key_file_name;
    const char *cert_file_name;
    const char *passphrase;
    const char *dh_params_file_name;
    const char *ca_file_name;
    const char *ssl_ciphers;
    int ssl_prefer_low_memory_usage;
};

typedef struct uws_app_s uws_app_t;
typedef struct uws_req_s uws_req_t;
typedef struct uws_res_s uws_res_t;
typedef struct uws_socket_context_s uws_socket_context_t;
typedef struct uws_websocket_s uws_websocket_t;
struct us_listen_socket_t;

/* An int-sized enum in the library; only the values used here. */
typedef enum { PEER_COMPRESSION_DISABLED = 0 } uws_compress_options_t;
typedef enum { PEER_OPCODE_TEXT = 1, PEER_OPCODE_BINARY = 2 } uws_opcode_t;
typedef enum { PEER_SEND_BACKPRESSURE, PEER_SEND_SUCCESS, PEER_SEND_DROPPED } uws_sendstatus_t;

typedef void (*uws_websocket_handler)(uws_websocket_t *ws, void *user_data);
typedef void (*uws_websocket_message_handler)(uws_websocket_t *ws, const char *message, size_t length, uws_opcode_t opcode, void *user_data);
typedef void (*uws_websocket_ping_pong_handler)(uws_websocket_t *ws, const char *message, size_t length, void *user_data);
typedef void (*uws_websocket_close_handler)(uws_websocket_t *ws, int code, const char *message, size_t length, void *user_data);
typedef void (*uws_websocket_upgrade_handler)(uws_res_t *response, uws_req_t *request, uws_socket_context_t *context, void *user_data);
typedef void (*uws_websocket_subscription_handler)(uws_websocket_t *ws, const char *topic, size_t topic_length, int new_count, int old_count, void *user_data);

/* Passed by value to uws_ws; a NULL handler is left to the library's default. */
typedef struct {
    uws_compress_options_t compression;
    unsigned int maxPayloadLength;
    unsigned short idleTimeout;        /* seconds; 0: no idle timeout */
    unsigned int maxBackpressure;      /* bytes; 0: no limit */
    bool closeOnBackpressureLimit;
    bool resetIdleTimeoutOnSend;
    bool sendPingsAutomatically;
    unsigned short maxLifetime;        /* minutes; 0: none */
    uws_websocket_upgrade_handler upgrade;
    uws_websocket_handler open;
    uws_websocket_message_handler message;
    uws_websocket_handler drain;
    uws_websocket_ping_pong_handler ping;
    uws_websocket_ping_pong_handler pong;
    uws_websocket_close_handler close;
    uws_websocket_subscription_handler subscription;
} uws_socket_behavior_t;

/* Passed by value to uws_app_listen_with_config and back to the listen handler. */
typedef struct {
    int port;
    const char *host;
    int options;
} uws_app_listen_config_t;

typedef void (*uws_listen_handler)(struct us_listen_socket_t *listen_socket, uws_app_listen_config_t config, void *user_data);

uws_app_t *uws_create_app(int ssl, struct us_socket_context_options_t options);
bool uws_constructor_failed(int ssl, uws_app_t *app);
void uws_ws(int ssl, uws_app_t *app, const char *pattern, uws_socket_behavior_t behavior, void *user_data);
void uws_app_listen_with_config(int ssl, uws_app_t *app, uws_app_listen_config_t config, uws_listen_handler handler, void *user_data);
void uws_app_run(int ssl, uws_app_t *app);
uws_sendstatus_t uws_ws_send(int ssl, uws_websocket_t *ws, const char *message, size_t length, uws_opcode_t opcode);
bool uws_ws_subscribe(int ssl, uws_websocket_t *ws, const char *topic, size_t length);
bool uws_publish(int ssl, uws_app_t *app, const char *topic, size_t topic_length, const char *message, size_t message_length, uws_opcode_t opcode, bool compress);

/* ------------------------------------------------------------------------------------------- */

static int tls;                 /* the `ssl` argument of every call: 1 for wss */
static uws_app_t *app;
static bool use_pubsub;
static const char *ready_file;
static unsigned long long trade_id;

static const char HELLO[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"hello\",\"params\":{\"protocol\":\"bulwark.v1\",\"connection_id\":\"c_peer\",\"challenge\":\"peer\"}}";

/* With no backpressure limit (maxBackpressure 0), uws_ws_send buffers what it cannot write yet
 * and never drops. */
static void send_text(uws_websocket_t *ws, const char *text, size_t length) {
    uws_ws_send(tls, ws, text, length, PEER_OPCODE_TEXT);
}

/* --- the JSON shortcut ----------------------------------------------------------------------- */

typedef struct {
    const char *start; /* NULL: absent */
    size_t length;
} token;

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The end of the JSON value starting at p (after leading space), or NULL if it is cut short. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_value(p, end);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
    return p;
}

/* The raw text of member `key` of the object `object` (a token starting with '{'). */
static token member(token object, const char *key) {
    token none = {NULL, 0};
    if (!object.start || object.length == 0 || object.start[0] != '{') return none;
    const char *p = object.start + 1, *end = object.start + object.length;
    size_t key_length = strlen(key);
    for (;;) {
        p = skip_space(p, end);
        if (p >= end || *p != '"') return none;
        const char *name = p + 1;
        const char *name_end = skip_value(p, end);
        if (!name_end) return none;
        p = skip_space(name_end, end);
        if (p >= end || *p != ':') return none;
        p = skip_space(p + 1, end);
        const char *value_end = skip_value(p, end);
        if (!value_end) return none;
        if ((size_t)(name_end - 1 - name) == key_length && memcmp(name, key, key_length) == 0) {
            token found = {p, (size_t)(value_end - p)};
            return found;
        }
        p = skip_space(value_end, end);
        if (p >= end || *p != ',') return none;
        p++;
    }
}

/* Whether a token is the JSON string "text" (compared raw: no escapes expected). */
static bool is_string(token value, const char *text) {
    size_t length = strlen(text);
    return value.start && value.length == length + 2 && value.start[0] == '"' && memcmp(value.start + 1, text, length) == 0;
}

/* The inside of a string token (without quotes), or the token itself for anything else. */
static token unquoted(token value) {
    if (value.start && value.length >= 2 && value.start[0] == '"') {
        token inner = {value.start + 1, value.length - 2};
        return inner;
    }
    return value;
}

/* --- growable byte buffer for replies ------------------------------------------------------------ */

typedef struct {
    char *bytes;
    size_t length, capacity;
} buffer;

static void put(buffer *b, const char *text, size_t length) {
    if (b->length + length > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 512;
        while (capacity < b->length + length) capacity *= 2;
        char *grown = realloc(b->bytes, capacity);
        if (!grown) abort();
        b->bytes = grown;
        b->capacity = capacity;
    }
    memcpy(b->bytes + b->length, text, length);
    b->length += length;
}

static void puts_(buffer *b, const char *text) { put(b, text, strlen(text)); }
static void put_token(buffer *b, token value, const char *absent) {
    if (value.start) put(b, value.start, value.length);
    else puts_(b, absent);
}

/* --- subscribers (our own lists, as peer_protocol.FanoutHub keeps sets) ------------------------- */

typedef struct {
    char *name;
    size_t name_length;
    uws_websocket_t **members;
    size_t count, capacity;
} channel;

static channel *channels;
static size_t channel_count, channel_capacity;

static channel *find_channel(const char *name, size_t length, bool create) {
    for (size_t i = 0; i < channel_count; i++)
        if (channels[i].name_length == length && memcmp(channels[i].name, name, length) == 0) return &channels[i];
    if (!create) return NULL;
    if (channel_count == channel_capacity) {
        channel_capacity = channel_capacity ? channel_capacity * 2 : 8;
        channels = realloc(channels, channel_capacity * sizeof *channels);
        if (!channels) abort();
    }
    channel *c = &channels[channel_count++];
    memset(c, 0, sizeof *c);
    c->name = malloc(length ? length : 1);
    if (!c->name) abort();
    memcpy(c->name, name, length);
    c->name_length = length;
    return c;
}

static void join(channel *c, uws_websocket_t *ws) {
    for (size_t i = 0; i < c->count; i++)
        if (c->members[i] == ws) return; /* a set, as in the Python peers */
    if (c->count == c->capacity) {
        c->capacity = c->capacity ? c->capacity * 2 : 64;
        c->members = realloc(c->members, c->capacity * sizeof *c->members);
        if (!c->members) abort();
    }
    c->members[c->count++] = ws;
}

static void drop(uws_websocket_t *ws) {
    for (size_t i = 0; i < channel_count; i++) {
        channel *c = &channels[i];
        for (size_t j = 0; j < c->count; j++) {
            if (c->members[j] == ws) {
                memmove(&c->members[j], &c->members[j + 1], (c->count - j - 1) * sizeof *c->members);
                c->count--;
                break;
            }
        }
    }
}

/* --- /ws/v1 ------------------------------------------------------------------------------------ */

static buffer answer, notification;

static void reply_start(buffer *b, token id) {
    b->length = 0;
    puts_(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    put_token(b, id, "null");
    puts_(b, ",\"result\":");
}

static void on_v1_open(uws_websocket_t *ws, void *user_data) {
    (void)user_data;
    send_text(ws, HELLO, sizeof HELLO - 1);
}

static void on_v1_message(uws_websocket_t *ws, const char *message, size_t length, uws_opcode_t opcode, void *user_data) {
    (void)user_data;
    if (opcode != PEER_OPCODE_TEXT) return; /* as the picows peer; the load tool sends text only */
    const char *start = skip_space(message, message + length);
    token request = {start, (size_t)(message + length - start)};
    token method = member(request, "method"), id = member(request, "id"), params = member(request, "params");

    if (is_string(method, "subscribe")) {
        token list = member(params, "channels");
        if (list.start && list.start[0] == '[') {
            const char *p = list.start + 1, *end = list.start + list.length - 1;
            while ((p = skip_space(p, end)) < end) {
                const char *next = skip_value(p, end);
                if (!next) break;
                if (*p == '"') {
                    if (use_pubsub) uws_ws_subscribe(tls, ws, p + 1, (size_t)(next - p - 2));
                    else join(find_channel(p + 1, (size_t)(next - p - 2), true), ws);
                }
                p = skip_space(next, end);
                if (p < end && *p == ',') p++;
            }
        }
        reply_start(&answer, id);
        puts_(&answer, "{\"channels\":");
        put_token(&answer, list, "[]");
        puts_(&answer, "}}");
        send_text(ws, answer.bytes, answer.length);
    } else if (is_string(method, "public/auth")) {
        reply_start(&answer, id);
        puts_(&answer, "{\"session_id\":\"s_peer\",\"account_id\":\"a_peer\",\"scopes\":");
        put_token(&answer, member(params, "scopes"), "[]");
        puts_(&answer, ",\"challenge\":\"peer\"}}");
        send_text(ws, answer.bytes, answer.length);
    } else if (is_string(method, "private/order.place")) {
        token tif = member(params, "tif"), side = member(params, "side");
        bool ioc = is_string(tif, "ioc");
        reply_start(&answer, id);
        puts_(&answer, "{\"order_id\":\"o_");
        token bare_id = unquoted(id);
        put_token(&answer, bare_id, "None");
        puts_(&answer, ioc ? "\",\"status\":\"filled\"}}" : "\",\"status\":\"open\"}}");
        send_text(ws, answer.bytes, answer.length);
        if (ioc && is_string(side, "buy")) {
            token instrument = member(params, "instrument");
            token name = unquoted(instrument);
            char number[32];
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            trade_id++;
            notification.length = 0;
            puts_(&notification, "{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"channel\":\"trades.");
            size_t channel_at = notification.length - strlen("trades.");
            if (instrument.start && instrument.start[0] == '"') put(&notification, name.start, name.length);
            size_t channel_length = notification.length - channel_at;
            snprintf(number, sizeof number, "%llu", trade_id);
            puts_(&notification, "\",\"seq\":");
            puts_(&notification, number);
            puts_(&notification, ",\"data\":{\"trade_id\":\"t_");
            puts_(&notification, number);
            puts_(&notification, "\",\"instrument\":");
            put_token(&notification, instrument, "null");
            puts_(&notification, ",\"price\":");
            put_token(&notification, member(params, "price"), "null");
            puts_(&notification, ",\"qty\":");
            put_token(&notification, member(params, "qty"), "null");
            snprintf(number, sizeof number, "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
            puts_(&notification, ",\"taker_side\":\"buy\",\"ts_ms\":");
            puts_(&notification, number);
            puts_(&notification, "}}}");
            const char *topic = notification.bytes + channel_at;
            if (use_pubsub) {
                uws_publish(tls, app, topic, channel_length, notification.bytes, notification.length, PEER_OPCODE_TEXT, false);
            } else {
                channel *c = find_channel(topic, channel_length, false);
                for (size_t i = 0; c && i < c->count; i++) send_text(c->members[i], notification.bytes, notification.length);
            }
        }
    } else {
        reply_start(&answer, id);
        puts_(&answer, "{}}");
        send_text(ws, answer.bytes, answer.length);
    }
}

static void on_v1_close(uws_websocket_t *ws, int code, const char *message, size_t length, void *user_data) {
    (void)code, (void)message, (void)length, (void)user_data;
    if (!use_pubsub) drop(ws); /* uWS unsubscribes closed sockets from its topics itself */
}

/* --- /ws/echo ---------------------------------------------------------------------------------- */

static void on_echo_message(uws_websocket_t *ws, const char *message, size_t length, uws_opcode_t opcode, void *user_data) {
    (void)user_data;
    uws_ws_send(tls, ws, message, length, opcode);
}

/* --- start-up ---------------------------------------------------------------------------------- */

static void on_listen(struct us_listen_socket_t *listen_socket, uws_app_listen_config_t config, void *user_data) {
    (void)user_data;
    if (!listen_socket) {
        fprintf(stderr, "uws_peer: cannot listen on 127.0.0.1:%d\n", config.port);
        exit(1);
    }
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (!f) {
            perror("uws_peer: ready file");
            exit(1);
        }
        fprintf(f, "127.0.0.1:%d\n", config.port);
        fclose(f);
    }
}

static uws_socket_behavior_t behavior(uws_websocket_message_handler message) {
    /* As the Python peers: no compression, 16 MiB messages, no idle timeout, no pings of our own,
     * no limit on buffered output (nothing dropped, nothing closed for backpressure). */
    uws_socket_behavior_t b;
    memset(&b, 0, sizeof b);
    b.compression = PEER_COMPRESSION_DISABLED;
    b.maxPayloadLength = 1u << 24;
    b.idleTimeout = 0;
    b.maxBackpressure = 0;
    b.closeOnBackpressureLimit = false;
    b.resetIdleTimeoutOnSend = false;
    b.sendPingsAutomatically = false;
    b.maxLifetime = 0;
    b.message = message;
    return b;
}

static void usage(void) {
    fprintf(stderr, "usage: uws_peer --port PORT [--cert CERT --key KEY] [--ready-file FILE] [--fanout loop|pubsub]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int port = 0;
    const char *cert = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--port") == 0) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cert") == 0) cert = argv[++i];
        else if (strcmp(argv[i], "--key") == 0) key = argv[++i];
        else if (strcmp(argv[i], "--ready-file") == 0) ready_file = argv[++i];
        else if (strcmp(argv[i], "--fanout") == 0) {
            const char *mode = argv[++i];
            if (strcmp(mode, "pubsub") == 0) use_pubsub = true;
            else if (strcmp(mode, "loop") != 0) usage();
        } else usage();
    }
    if (port <= 0 || port > 65535 || (cert == NULL) != (key == NULL)) usage();
    tls = cert != NULL;

    struct us_socket_context_options_t options;
    memset(&options, 0, sizeof options);
    options.cert_file_name = cert;
    options.key_file_name = key;
    app = uws_create_app(tls, options);
    if (!app || uws_constructor_failed(tls, app)) {
        fprintf(stderr, "uws_peer: could not create the %s app (certificate or key?)\n", tls ? "TLS" : "plain");
        return 1;
    }

    uws_socket_behavior_t echo = behavior(on_echo_message);
    uws_ws(tls, app, "/ws/echo", echo, NULL);
    uws_socket_behavior_t v1 = behavior(on_v1_message);
    v1.open = on_v1_open;
    v1.close = on_v1_close;
    uws_ws(tls, app, "/ws/v1", v1, NULL);

    /* options 1: LIBUS_LISTEN_EXCLUSIVE_PORT, no SO_REUSEPORT (which uSockets sets otherwise), so
     * that a stale server on the same port makes this one fail instead of sharing connections. */
    uws_app_listen_config_t config = {port, "127.0.0.1", 1};
    uws_app_listen_with_config(tls, app, config, on_listen, NULL);
    uws_app_run(tls, app); /* until the harness sends SIGTERM */
    return 0;
}
