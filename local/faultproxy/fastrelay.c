/* The fault proxy's compiled fast path (issue 16).
 *
 * It relays, on one client connection, the calls that no rule of the plan can touch and whose
 * records nobody keeps, with no Python run per message: a connection's thread calls fr_serve()
 * through ctypes, which releases the GIL, and stays in it while the client sends plain
 * requests. The Python relay measured at the edge of the overhead target because the
 * interpreter wakes up per message, not because of the hop or the parsing (bench proxy).
 *
 * It frames messages exactly as local/faultproxy/wire.py does (the same four headers, the same
 * limits) and relays them byte for byte. Anything it is not sure of, it leaves to Python
 * before a byte goes out: a request that is chunked, expects 100-continue, is malformed or too
 * large, or arrives after the plan gained a rule, is handed back (FR_YIELD) with every byte
 * still buffered. Once a request went upstream it finishes the exchange, as Python would: the
 * answer relayed whole, or the reason there is none, for Python to answer 502/504 or retry.
 *
 * Python owns both sockets (their options, closing them); this file only reads and writes.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#ifndef MSG_NOSIGNAL /* macOS: Python ignores SIGPIPE, so a plain send is enough */
#define MSG_NOSIGNAL 0
#endif

#define FR_ABI 1
#define MAX_HEAD ((size_t)64 * 1024)
#define MAX_BODY ((size_t)64 * 1024 * 1024)
#define FIRST_CAP ((size_t)64 * 1024)
#define MIN_READ ((size_t)16 * 1024)
#define DEADLINE_SLACK_S 0.05
#define NONE ((size_t)-1)

enum fr_event {
    FR_YIELD = 0,            /* the next request is Python's; nothing of it was sent */
    FR_EOF = 1,              /* the client closed; bytes of an unfinished request may remain */
    FR_CLIENT_ERROR = 2,     /* reading from or writing to the client failed */
    FR_CLOSE = 3,            /* an answer that ends the connection was relayed */
    FR_STALE = 4,            /* the kept-alive upstream closed before a byte of answer */
    FR_UPSTREAM_ERROR = 5,   /* the upstream failed after the request went out (reason) */
    FR_UPSTREAM_TIMEOUT = 6, /* no answer within the timeout (reason) */
    FR_UPSTREAM_SPOILED = 7, /* an answer was relayed, but the upstream sent bytes after it
                                that no request asked for: its connection cannot be trusted */
};

/* One client connection. Mirrored by a ctypes Structure in fastpath.py: keep them in step
 * (fr_conn_size() lets Python check). */
struct fr_conn {
    int client_fd;
    int upstream_fd;
    double timeout_s;
    const volatile int *enabled;      /* the proxy's "no rule, no record" flag, read per call */
    unsigned long long *relayed;      /* the proxy's count of calls relayed here (atomic) */
    char *req;                        /* client bytes not yet relayed */
    size_t req_len, req_cap;
    char *ans;                        /* upstream bytes not yet relayed */
    size_t ans_len, ans_cap;
    char reason[200];
};

int fr_abi(void) { return FR_ABI; }
size_t fr_conn_size(void) { return sizeof(struct fr_conn); }

static int reserve(char **buf, size_t *cap, size_t len, size_t extra) {
    if (*cap - len >= extra) return 0;
    size_t want = *cap ? *cap : FIRST_CAP;
    while (want - len < extra) want *= 2;
    char *grown = realloc(*buf, want);
    if (grown == NULL) return -1;
    *buf = grown;
    *cap = want;
    return 0;
}

/* Append bytes Python had buffered before handing the connection over. */
int fr_feed(struct fr_conn *c, const char *data, size_t n) {
    if (reserve(&c->req, &c->req_cap, c->req_len, n) < 0) return -1;
    memcpy(c->req + c->req_len, data, n);
    c->req_len += n;
    return 0;
}

void fr_release(struct fr_conn *c) {
    free(c->req);
    free(c->ans);
    c->req = c->ans = NULL;
    c->req_len = c->req_cap = c->ans_len = c->ans_cap = 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_rcvtimeo(int fd, double seconds) {
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1; /* zero would mean no limit */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void consume(char *buf, size_t *len, size_t n) {
    memmove(buf, buf + n, *len - n);
    *len -= n;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t sent = send(fd, p, n, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += sent;
        n -= (size_t)sent;
    }
    return 0;
}

/* recv() into the free end of a buffer: > 0 bytes, 0 at EOF, -1 with errno (-2: no memory). */
static ssize_t read_into(int fd, char **buf, size_t *len, size_t *cap) {
    if (reserve(buf, cap, *len, MIN_READ) < 0) return -2;
    for (;;) {
        ssize_t got = recv(fd, *buf + *len, *cap - *len, 0);
        if (got >= 0 || errno != EINTR) {
            if (got > 0) *len += (size_t)got;
            return got;
        }
    }
}

static size_t head_end(const char *p, size_t len) {
    if (len < 4) return NONE; /* also: no buffer yet (NULL), which memmem must not get */
    const char *found = memmem(p, len, "\r\n\r\n", 4);
    return found ? (size_t)(found - p) : NONE;
}

static size_t find_crlf(const char *p, size_t from, size_t to) {
    if (to <= from) return NONE;
    const char *found = memmem(p + from, to - from, "\r\n", 2);
    return found ? (size_t)(found - p) : NONE;
}

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static int same_word(const char *p, size_t n, const char *word) {
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (lower((unsigned char)p[i]) != word[i]) return 0;
    return i == n && word[i] == '\0';
}

static int contains_word(const char *p, size_t n, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (same_word(p + i, w, word)) return 1;
    return 0;
}

/* What the four framing headers of a head say, as wire._framing_fields reads them. */
struct framing {
    int lengths;          /* Content-Length headers seen */
    const char *length;   /* the first one's value */
    size_t length_len;
    int transfer_encoding;
    int chunked;
    int connection;       /* a Connection header was seen */
    int close, keep_alive;
    int expect;
};

static void connection_tokens(struct framing *f, const char *v, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != ',') continue;
        size_t a = start, b = i;
        while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
        if (same_word(v + a, b - a, "close")) f->close = 1;
        if (same_word(v + a, b - a, "keep-alive")) f->keep_alive = 1;
        start = i + 1;
    }
}

/* The header lines between the first line's CRLF (line_end) and the head's end (end, where
 * "\r\n\r\n" starts). A name starts its line; spaces and tabs may surround the colon. */
static void read_framing(const char *p, size_t line_end, size_t end, struct framing *f) {
    static const char *const names[] = {"content-length", "transfer-encoding", "connection",
                                        "expect"};
    memset(f, 0, sizeof *f);
    size_t pos = line_end;
    while (pos < end) {
        size_t start = pos + 2;
        size_t stop = find_crlf(p, start, end + 2);
        if (stop == NONE) break;
        pos = stop;
        for (int k = 0; k < 4; k++) {
            size_t n = strlen(names[k]);
            if (stop - start < n || !same_word(p + start, n, names[k])) continue;
            size_t i = start + n;
            while (i < stop && (p[i] == ' ' || p[i] == '\t')) i++;
            if (i >= stop || p[i] != ':') continue;
            i++;
            while (i < stop && (p[i] == ' ' || p[i] == '\t')) i++;
            size_t v_end = stop;
            while (v_end > i && (p[v_end - 1] == ' ' || p[v_end - 1] == '\t')) v_end--;
            const char *v = p + i;
            size_t vn = v_end - i;
            if (k == 0) {
                if (f->lengths++ == 0) {
                    f->length = v;
                    f->length_len = vn;
                }
            } else if (k == 1) {
                f->transfer_encoding = 1;
                if (contains_word(v, vn, "chunked")) f->chunked = 1;
            } else if (k == 2) {
                f->connection = 1;
                connection_tokens(f, v, vn);
            } else {
                f->expect = 1;
            }
        }
    }
}

/* A Content-Length value: its number, or -1 when it is not plain digits within the limit. */
static long long content_length(const char *v, size_t n) {
    if (n == 0) return 0;
    long long value = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        value = value * 10 + (v[i] - '0');
        if ((size_t)value > MAX_BODY) return -1;
    }
    return value;
}

static int keeps_alive(const struct framing *f, int http10) {
    if (!f->connection) return !http10;
    return http10 ? f->keep_alive : !f->close;
}

/* A response to frame: where it ends, or why it cannot be relayed. */
enum { INCOMPLETE = 0, COMPLETE = 1, BROKEN = -1 };

struct answer {
    size_t stop;
    int keep_alive;
    int status;
};

static int fail(struct fr_conn *c, const char *what) {
    snprintf(c->reason, sizeof c->reason, "upstream connection failed: %s", what);
    return BROKEN;
}

/* The end of the chunked body at ans[start:], as wire._chunked finds it. */
static int chunked_end(struct fr_conn *c, size_t start, size_t *stop) {
    const char *p = c->ans;
    size_t len = c->ans_len, pos = start, decoded = 0;
    for (;;) {
        size_t eol = find_crlf(p, pos, len);
        if (eol == NONE) return INCOMPLETE;
        size_t a = pos, b = eol;
        for (size_t i = a; i < b; i++)
            if (p[i] == ';') {
                b = i;
                break;
            }
        while (a < b && (p[a] == ' ' || p[a] == '\t')) a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t')) b--;
        if (a == b) return fail(c, "malformed chunk size");
        size_t size = 0;
        for (size_t i = a; i < b; i++) {
            int ch = lower((unsigned char)p[i]);
            int digit = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (digit < 0) return fail(c, "malformed chunk size");
            size = size * 16 + (size_t)digit;
            if (size > MAX_BODY) return fail(c, "body longer than 67108864 bytes");
        }
        pos = eol + 2;
        if (size == 0) break;
        if (decoded + size > MAX_BODY) return fail(c, "body longer than 67108864 bytes");
        decoded += size;
        if (len < pos + size + 2) return INCOMPLETE;
        pos += size + 2;
    }
    for (;;) { /* trailers, up to the empty line */
        size_t eol = find_crlf(p, pos, len);
        if (eol == NONE) return INCOMPLETE;
        int empty = eol == pos;
        pos = eol + 2;
        if (empty) {
            *stop = pos;
            return COMPLETE;
        }
    }
}

/* Frame the answer at the front of c->ans (interim 1xx ones are dropped), as
 * wire.Buffer.take_response does; eof: the upstream closed. */
static int frame_answer(struct fr_conn *c, int head_request, int eof, struct answer *out) {
    for (;;) {
        const char *p = c->ans;
        size_t len = c->ans_len;
        size_t end = head_end(p, len);
        if (end == NONE || end > MAX_HEAD) {
            if (end != NONE || len > MAX_HEAD) return fail(c, "message head longer than 65536 bytes");
            if (eof && len) return fail(c, "connection closed inside a message head");
            return INCOMPLETE;
        }
        size_t line_end = find_crlf(p, 0, end + 2);
        const char *sp = memchr(p, ' ', line_end);
        int status = -1;
        if (sp != NULL && sp > p && (size_t)(sp - p) >= 7 && memcmp(p, "HTTP/1.", 7) == 0) {
            size_t first = (size_t)(sp - p);
            const char *sp2 = memchr(p + first + 1, ' ', line_end - first - 1);
            size_t token_end = sp2 ? (size_t)(sp2 - p) : line_end;
            if (token_end - first - 1 == 3) { /* 3DIGIT (RFC 9112) */
                status = 0;
                for (size_t i = first + 1; i < token_end; i++) {
                    if (p[i] < '0' || p[i] > '9') {
                        status = -1;
                        break;
                    }
                    status = status * 10 + (p[i] - '0');
                }
            }
        }
        if (status < 0) return fail(c, "malformed status line");
        if (status >= 100 && status < 200) { /* interim: dropped */
            consume(c->ans, &c->ans_len, end + 4);
            if (eof && c->ans_len == 0) {
                snprintf(c->reason, sizeof c->reason,
                         "upstream closed the connection before answering");
                return BROKEN;
            }
            continue;
        }
        struct framing f;
        read_framing(p, line_end, end, &f);
        size_t first = (size_t)(sp - p);
        int http10 = first == 8 && memcmp(p, "HTTP/1.0", 8) == 0;
        size_t head_size = end + 4;
        int to_eof = 0;
        size_t stop = head_size;
        if (head_request || status == 204 || status == 304) {
            stop = head_size;
        } else if (f.chunked) {
            int found = chunked_end(c, head_size, &stop);
            if (found == BROKEN) return BROKEN;
            if (found == INCOMPLETE) {
                if (eof) return fail(c, "upstream closed the connection inside a response body");
                return INCOMPLETE;
            }
        } else if (f.lengths) {
            long long length = f.lengths > 1 ? -1 : content_length(f.length, f.length_len);
            if (length < 0) {
                snprintf(c->reason, sizeof c->reason,
                         "upstream connection failed: malformed Content-Length '%.*s'%s",
                         (int)(f.length_len < 40 ? f.length_len : 40), f.length,
                         f.lengths > 1 ? " (repeated)" : "");
                return BROKEN;
            }
            stop = head_size + (size_t)length;
        } else {
            to_eof = 1;
            if (!eof) {
                if (len - head_size > MAX_BODY) return fail(c, "body longer than 67108864 bytes");
                return INCOMPLETE;
            }
            stop = len;
        }
        if (len < stop) {
            if (eof) return fail(c, "upstream closed the connection inside a response body");
            return INCOMPLETE;
        }
        out->stop = stop;
        out->status = status;
        out->keep_alive = !to_eof && keeps_alive(&f, http10);
        return COMPLETE;
    }
}

/* Relay the request at the front of c->req (req_size bytes) and its answer. Returns -1 when
 * the answer went to the client, or the event that ends the fast path. */
static int exchange(struct fr_conn *c, size_t req_size, int head_request, int request_keeps) {
    double timeout_s = c->timeout_s;
    int fd = c->upstream_fd;
    int answering = 0, eof = 0, reduced = 0, result;
    struct answer answer;
    double started = now_s();
    c->ans_len = 0; /* Python enters with no answer bytes held; none are left between calls */
    if (send_all(fd, c->req, req_size) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) goto timed_out;
        return FR_STALE; /* a kept-alive connection the upstream closed: Python retries */
    }
    for (;;) {
        if (c->ans_len || eof) {
            if (eof && c->ans_len == 0) {
                if (!answering) return FR_STALE;
                snprintf(c->reason, sizeof c->reason,
                         "upstream closed the connection before answering");
                result = FR_UPSTREAM_ERROR;
                goto done;
            }
            int framed = frame_answer(c, head_request, eof, &answer);
            if (framed == BROKEN) {
                result = FR_UPSTREAM_ERROR;
                goto done;
            }
            if (framed == COMPLETE) break;
        }
        if (answering) { /* the rest of an answer: within what is left of the deadline */
            double elapsed = now_s() - started;
            if (elapsed >= timeout_s) goto timed_out;
            if (elapsed > DEADLINE_SLACK_S) {
                set_rcvtimeo(fd, timeout_s - elapsed);
                reduced = 1;
            }
        }
        ssize_t got = read_into(fd, &c->ans, &c->ans_len, &c->ans_cap);
        if (got > 0) {
            answering = 1;
        } else if (got == 0) {
            eof = 1;
        } else if (got == -2) {
            snprintf(c->reason, sizeof c->reason, "upstream connection failed: out of memory");
            result = FR_UPSTREAM_ERROR;
            goto done;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            goto timed_out;
        } else {
            if (!answering) return FR_STALE;
            int err = errno;
            snprintf(c->reason, sizeof c->reason, "upstream connection failed: [Errno %d] %s", err,
                     strerror(err));
            result = FR_UPSTREAM_ERROR;
            goto done;
        }
    }
    if (reduced) set_rcvtimeo(fd, timeout_s);
    /* counted before the client has the answer: whoever holds it sees the count */
    __atomic_add_fetch(c->relayed, 1, __ATOMIC_SEQ_CST);
    if (send_all(c->client_fd, c->ans, answer.stop) < 0) return FR_CLIENT_ERROR;
    consume(c->req, &c->req_len, req_size);
    int spoiled = c->ans_len > answer.stop;
    c->ans_len = 0;
    if (!(request_keeps && answer.keep_alive)) return FR_CLOSE;
    return spoiled ? FR_UPSTREAM_SPOILED : -1;
timed_out:
    snprintf(c->reason, sizeof c->reason, "no answer within %g s", timeout_s);
    result = FR_UPSTREAM_TIMEOUT;
done:
    c->ans_len = 0;
    if (reduced) set_rcvtimeo(fd, timeout_s);
    return result;
}

/* Serve the client's requests until one is Python's, or the connection ends. */
int fr_serve(struct fr_conn *c) {
    c->reason[0] = '\0';
    for (;;) {
        size_t end = head_end(c->req, c->req_len);
        if (end == NONE) {
            if (c->req_len > MAX_HEAD) return FR_YIELD; /* Python says why */
            ssize_t got = read_into(c->client_fd, &c->req, &c->req_len, &c->req_cap);
            if (got == 0) return FR_EOF;
            if (got < 0) return FR_CLIENT_ERROR;
            continue;
        }
        const char *p = c->req;
        if (end > MAX_HEAD) return FR_YIELD;
        size_t line_end = find_crlf(p, 0, end + 2);
        const char *sp = memchr(p, ' ', line_end);
        if (sp == NULL || sp == p) return FR_YIELD;
        size_t first = (size_t)(sp - p);
        const char *sp2 = memchr(sp + 1, ' ', line_end - first - 1);
        if (sp2 == NULL) return FR_YIELD;
        size_t second = (size_t)(sp2 - p);
        if (line_end - second - 1 < 7 || memcmp(p + second + 1, "HTTP/1.", 7) != 0)
            return FR_YIELD;
        struct framing f;
        read_framing(p, line_end, end, &f);
        if (f.transfer_encoding || f.expect || f.lengths > 1) return FR_YIELD;
        long long length = f.lengths ? content_length(f.length, f.length_len) : 0;
        if (length < 0) return FR_YIELD;
        size_t size = end + 4 + (size_t)length;
        while (c->req_len < size) {
            ssize_t got = read_into(c->client_fd, &c->req, &c->req_len, &c->req_cap);
            if (got == 0) return FR_EOF;
            if (got < 0) return FR_CLIENT_ERROR;
        }
        if (!*c->enabled) return FR_YIELD; /* the plan gained a rule: the call is Python's */
        p = c->req;                        /* the buffer may have moved */
        int http10 = line_end - second - 1 == 8 && memcmp(p + second + 1, "HTTP/1.0", 8) == 0;
        int head_request = first == 4 && memcmp(p, "HEAD", 4) == 0;
        int event = exchange(c, size, head_request, keeps_alive(&f, http10));
        if (event >= 0) return event;
    }
}
