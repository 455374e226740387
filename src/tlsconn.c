#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "plainconn.h"
#include "tlsconn.h"

/*
 * Why not libevent's own TLS sockets: bufferevent_openssl_socket_new lets
 * OpenSSL read its socket, a record in two read(2)s (header, then body)
 * and one record a loop turn, and it writes through a write event added
 * and removed for every response. Its filter mode reads an evbuffer
 * instead, so one read can take many records; under it, a socket
 * bufferevent would still read 4 KiB at a time after an ioctl(FIONREAD)
 * and write a loop turn later. So the filter's underlying bufferevent
 * only holds the records, and this file moves them.
 */

/* A read takes up to two full records. What the filter has not taken is
 * bounded: when meshd stops reading, so does the socket, and TCP holds
 * the peer back. */
#define READ_SIZE	32768
#define READ_LIMIT	(2 * READ_SIZE)

struct tlsconn {
	struct bufferevent	*bev;	/* the filter: what meshd uses */
	struct bufferevent	*raw;	/* under it: records in and out */
	struct evbuffer_cb_entry *out_cb;
	struct evbuffer_cb_entry *in_cb;	/* on the filter's input */
	BIO			*bio;	/* the filter's, to raw */
	struct event		*rd;	/* the socket is readable */
	struct event		*wr;	/* writable, or records to send */
	struct event		*end;	/* the end to tell, from the loop */
	struct event		*feed;	/* records to hand on, from the loop */
	size_t			 limit;	/* meshd's read high watermark */
	struct timeval		 read_tv;
	struct timeval		 write_tv;
	unsigned		 has_read_tv:1;
	unsigned		 has_write_tv:1;
	unsigned		 reading:1;	/* rd is added */
	unsigned		 writing:1;	/* wr waits for the socket */
	unsigned		 eof:1;		/* the peer ended its stream */
	unsigned		 held:1;	/* records wait for meshd's room */
	unsigned		 failed:1;	/* an error, told */
};

/* The tlsconn of a TLS bufferevent hangs off its SSL. */
static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void
ex_init(void)
{
	if ((ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0)
		abort();
}

static struct tlsconn *
lookup(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && ex_index >= 0 ? SSL_get_ex_data(ssl, ex_index) :
	    NULL;
}

static void
add(struct event *ev, int has_tv, const struct timeval *tv)
{
	if (event_add(ev, has_tv ? tv : NULL) != 0)
		abort();
}

static void
start_reading(struct tlsconn *s)
{
	s->reading = 1;
	add(s->rd, s->has_read_tv, &s->read_tv);
}

static void
stop_reading(struct tlsconn *s)
{
	s->reading = 0;
	event_del(s->rd);
}

/* Tell meshd what, as its socket would: its callback may free the
 * connection, so s is not to be touched after this. */
static void
tell(struct tlsconn *s, short what)
{
	int err = errno;

	if (what & BEV_EVENT_ERROR)
		s->failed = 1;
	errno = err;	/* a refused connect says so: retry_on looks */
	bufferevent_trigger_event(s->bev, what, 0);
}

/*
 * Hand the records read to the filter, to decrypt into meshd's input,
 * unless that holds meshd's read limit already: then they wait (and the
 * socket too, once READ_LIMIT of them do) until meshd takes some
 * (on_plain_in). libevent's own read watermark would do the same, but its
 * filter then tries a read on every change of its input.
 */
static void
feed(struct tlsconn *s)
{
	if (s->limit != 0 &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) >= s->limit) {
		s->held = 1;
		return;
	}
	/* meshd's callback may free the connection: s is not touched
	 * after. */
	bufferevent_trigger(s->raw, EV_READ, 0);
}

static void
on_feed(evutil_socket_t fd, short what, void *arg)
{
	feed(arg);
}

static void
on_plain_in(struct evbuffer *in, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct tlsconn *s = arg;

	if (info->n_deleted > 0 && s->held &&
	    evbuffer_get_length(in) < s->limit) {
		s->held = 0;
		event_active(s->feed, 0, 1);
	}
}

/*
 * The filter reads the records through a BIO; OpenSSL takes what there
 * is, a part of a record too. While the socket is paused, or after the
 * peer's end, each such read is watched: the socket is read again once
 * there is room, and the end is told once the filter has taken every
 * byte: meshd hears of the end after what came before it, and again each
 * time it reads again, as from a socket.
 */
static long
bio_read(BIO *b, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed)
{
	struct tlsconn *s = (struct tlsconn *)BIO_get_callback_arg(b);
	size_t have;

	if (oper != (BIO_CB_READ | BIO_CB_RETURN))
		return ret;
	have = evbuffer_get_length(bufferevent_get_input(s->raw));
	if (s->eof) {
		/* From the loop, not from within the filter's read. */
		if (have == 0)
			event_active(s->end, 0, 1);
	} else if (have < READ_LIMIT && !s->failed) {
		BIO_set_callback_ex(b, NULL);
		start_reading(s);
	}
	return ret;
}

/* Watch the filter's reads: a callback on every BIO call, so only when
 * needed. */
static void
watch_reads(struct tlsconn *s)
{
	BIO_set_callback_ex(s->bio, bio_read);
}

/* Activated by bio_read. A close_notify was told by the filter. */
static void
on_end(evutil_socket_t fd, short what, void *arg)
{
	struct tlsconn *s = arg;

	if (!s->failed && !(SSL_get_shutdown(bufferevent_openssl_get_ssl(
	    s->bev)) & SSL_RECEIVED_SHUTDOWN))
		tell(s, BEV_EVENT_EOF | BEV_EVENT_READING);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct tlsconn *s = arg;
	struct evbuffer *in = bufferevent_get_input(s->raw);
	ssize_t n;

	if (!(what & EV_READ)) {
		/* The handshake's timeout; after it, none while meshd does not
		 * read, as with a socket bufferevent it has disabled. */
		if (!SSL_is_init_finished(bufferevent_openssl_get_ssl(s->bev)) ||
		    (bufferevent_get_enabled(s->bev) & EV_READ))
			tell(s, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
		return;
	}
	if (evbuffer_get_length(in) >= READ_LIMIT) {
		stop_reading(s);
		watch_reads(s);
		return;
	}
	n = msh_read_into(in, fd, READ_SIZE);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		stop_reading(s);
		tell(s, BEV_EVENT_ERROR | BEV_EVENT_READING);
		return;
	}
	if (n == 0) {
		s->eof = 1;
		stop_reading(s);
		watch_reads(s);
		/* If the filter reads, it finds the end now (bio_read). */
		feed(s);
		return;
	}
	feed(s);
}

/* Records to send: they go at the end of this loop turn, with whatever
 * else the turn adds, in one write. */
static void
on_cipher_out(struct evbuffer *out, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct tlsconn *s = arg;

	if (info->n_added > 0 && !s->writing)
		event_active(s->wr, EV_WRITE, 1);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct tlsconn *s = arg;
	struct evbuffer *out = bufferevent_get_output(s->raw);
	int n;

	s->writing = 0;
	if (s->failed)
		return;
	if (!(what & EV_WRITE)) {
		tell(s, BEV_EVENT_TIMEOUT | BEV_EVENT_WRITING);
		return;
	}
	while (evbuffer_get_length(out) > 0) {
		if ((n = evbuffer_write(out, fd)) > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno == EAGAIN) {
			s->writing = 1;
			add(s->wr, s->has_write_tv, &s->write_tv);
			return;
		}
		stop_reading(s);
		tell(s, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
		return;
	}
	/* All sent: meshd's write callback, as a socket bufferevent calls it
	 * once its output is out (meshd closes or ends its side then). */
	bufferevent_trigger(s->bev, EV_WRITE, 0);
}

struct bufferevent *
msh_tlsconn_new(struct event_base *base, int fd, SSL *ssl, int accepting)
{
	struct bufferevent *raw, *bev;
	struct tlsconn *s;

	pthread_once(&ex_once, ex_init);
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (raw = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL ||
	    (s->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_readable,
	    s)) == NULL ||
	    (s->wr = event_new(base, fd, EV_WRITE, on_writable, s)) == NULL ||
	    (s->end = event_new(base, -1, 0, on_end, s)) == NULL ||
	    (s->feed = event_new(base, -1, 0, on_feed, s)) == NULL)
		abort();
	s->raw = raw;
	/* A socket bufferevent keeps its buffers frozen for its own reads
	 * and writes; here there are none. */
	evbuffer_unfreeze(bufferevent_get_input(raw), 0);
	evbuffer_unfreeze(bufferevent_get_output(raw), 1);
	if ((s->out_cb = evbuffer_add_cb(bufferevent_get_output(raw),
	    on_cipher_out, s)) == NULL ||
	    SSL_set_ex_data(ssl, ex_index, s) != 1)
		abort();
	/*
	 * It frees raw (closing fd) and ssl with itself. meshd's callbacks
	 * run from the loop, not from within the filter: it reads again as
	 * soon as meshd drains its input below the high watermark, and
	 * meshd's read callback must not run inside itself.
	 */
	bev = bufferevent_openssl_filter_new(base, raw, ssl, accepting ?
	    BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		abort();
	s->bev = bev;
	if ((s->in_cb = evbuffer_add_cb(bufferevent_get_input(bev),
	    on_plain_in, s)) == NULL)
		abort();
	s->bio = SSL_get_rbio(ssl);
	BIO_set_callback_arg(s->bio, (char *)s);
	/* The filter enabled raw's events; the socket is this file's. */
	bufferevent_disable(raw, EV_READ | EV_WRITE);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	start_reading(s);
	/* The filter starts a handshake when raw has news: a client speaks
	 * first. */
	if (!accepting)
		bufferevent_trigger(raw, EV_WRITE, 0);
	return bev;
}

static void
set_tv(struct timeval *to, unsigned *has, const struct timeval *tv)
{
	*has = tv != NULL;
	if (tv != NULL)
		*to = *tv;
}

static void
rearm(struct event *ev, const struct timeval *tv)
{
	if (tv != NULL)
		add(ev, 1, tv);
	else
		event_remove_timer(ev);
}

int
msh_tlsconn_timeouts(struct bufferevent *bev, const struct timeval *r,
    const struct timeval *w)
{
	struct tlsconn *s;
	unsigned has;

	if ((s = lookup(bev)) == NULL)
		return -1;
	set_tv(&s->read_tv, &has, r);
	s->has_read_tv = has;
	set_tv(&s->write_tv, &has, w);
	s->has_write_tv = has;
	if (s->reading)
		rearm(s->rd, r);
	if (s->writing)
		rearm(s->wr, w);
	return 0;
}

void
msh_bev_read_limit(struct bufferevent *bev, size_t high)
{
	struct tlsconn *s;

	if ((s = lookup(bev)) == NULL) {
		if (msh_plainconn_read_limit(bev, high) != 0)
			bufferevent_setwatermark(bev, EV_READ, 0, high);
		return;
	}
	s->limit = high;
	if (s->held && evbuffer_get_length(bufferevent_get_input(bev)) < high) {
		s->held = 0;
		event_active(s->feed, 0, 1);
	}
}

void
msh_bev_free(struct bufferevent *bev)
{
	struct tlsconn *s;

	if (bev == NULL)
		return;
	if ((s = lookup(bev)) != NULL) {
		SSL_set_ex_data(bufferevent_openssl_get_ssl(bev), ex_index,
		    NULL);
		BIO_set_callback_ex(s->bio, NULL);
		evbuffer_remove_cb_entry(bufferevent_get_output(s->raw),
		    s->out_cb);
		event_free(s->rd);
		event_free(s->wr);
		event_free(s->end);
		event_free(s->feed);
		evbuffer_remove_cb_entry(bufferevent_get_input(bev), s->in_cb);
		free(s);
	}
	bufferevent_free(bev);
}

size_t
msh_bev_unsent(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(bev));

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}
