/*
 * l3kit_tun: a small N-API addon for Linux TUN devices.
 *
 * - open(name, flags)            TUNSETIFF on /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC)
 * - setVnetHdrSz(fd, n), setOffload(fd, flags)
 * - pollStart(fd, rx, slot, lens, cb[, headroom]) -> handle
 *     A uv_poll_t on the event loop (no thread pool). Each wakeup drains the fd into `rx`
 *     (ArrayBuffer of lens.length slots of `slot` bytes; each read lands `headroom` bytes into
 *     its slot, default 0), stores each packet's length in `lens` (Int32Array) and calls
 *     cb(count, errno) once per filled batch.
 * - pollStop(handle), pollRef(handle, bool)
 * - write(fd, pkt[, hdr])        one packet (writev when a vnet header is given);
 *                                returns bytes written or -errno (never throws for I/O errors)
 * - writeMany(fd, pkts, count, results)  results[i] = bytes or -errno
 * - getMtu(name), setMtu(name, mtu), getUp(name), setUp(name, up),
 *   getTxQueueLen(name), setTxQueueLen(name, n)  (ioctl on a socket)
 * - close(fd)
 *
 * I/O errors of open/ioctl throw Error objects with `code` (errno name), `errno` and `syscall`.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* At most this many batches are drained per wakeup, so one busy device cannot starve the loop. */
#define MAX_ROUNDS_PER_WAKEUP 4

#define CHECK(call)                                                                 \
  do {                                                                              \
    napi_status status_ = (call);                                                   \
    if (status_ != napi_ok) {                                                       \
      const napi_extended_error_info *info_ = NULL;                                 \
      napi_get_last_error_info(env, &info_);                                        \
      bool pending_ = false;                                                        \
      napi_is_exception_pending(env, &pending_);                                    \
      if (!pending_)                                                                \
        napi_throw_error(env, "ERR_TUN_ADDON",                                      \
                         info_ && info_->error_message ? info_->error_message       \
                                                       : "N-API call failed");      \
      return NULL;                                                                  \
    }                                                                               \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s%s%s: %s", syscall, what ? " " : "", what ? what : "",
           strerror(err));
  napi_value code, message, error, num, sys;
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_TUN_ADDON", "too few arguments");
    return 0;
  }
  return 1;
}

static int get_name(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  size_t len = 0;
  memset(out, 0, IFNAMSIZ);
  if (napi_get_value_string_utf8(env, v, out, IFNAMSIZ, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_TUN_ADDON", "interface name must be a string");
    return 0;
  }
  return 1;
}

static napi_value ret_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

/* open(name: string, flags: number): [fd, name] */
static napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char name[IFNAMSIZ];
  if (!get_name(env, argv[0], name)) return NULL;
  int32_t flags;
  CHECK(napi_get_value_int32(env, argv[1], &flags));

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = (short)flags;
  memcpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ioctl", "TUNSETIFF");
  }
  napi_value out, vfd, vname;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, fd, &vfd));
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname));
  CHECK(napi_set_element(env, out, 0, vfd));
  CHECK(napi_set_element(env, out, 1, vname));
  return out;
}

/* setVnetHdrSz(fd, size) */
static napi_value SetVnetHdrSz(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t fd, sz;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int32(env, argv[1], &sz));
  int v = sz;
  if (ioctl(fd, TUNSETVNETHDRSZ, &v) < 0) return throw_errno(env, errno, "ioctl", "TUNSETVNETHDRSZ");
  return NULL;
}

/* setOffload(fd, flags) */
static napi_value SetOffload(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t fd;
  uint32_t flags;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[1], &flags));
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
    return throw_errno(env, errno, "ioctl", "TUNSETOFFLOAD");
  return NULL;
}

/* ---- reader ---------------------------------------------------------------------------- */

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_ref rx_ref;
  napi_ref lens_ref;
  napi_ref resource;
  napi_async_context actx;
  uint8_t *rx;
  size_t slot;
  size_t headroom;
  int32_t *lens;
  uint32_t max_batch;
  int fd;
  int active;
} poller_t;

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

/* Calls cb(count, err). Returns 0 if the poller was stopped during the callback. */
static int deliver(poller_t *p, uint32_t count, int err) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return p->active;
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(env, p->cb, &cb);
  napi_get_global(env, &recv);
  napi_create_uint32(env, count, &argv[0]);
  napi_create_int32(env, err, &argv[1]);
  napi_status s = napi_make_callback(env, p->actx, recv, cb, 2, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
  return p->active;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = (poller_t *)h->data;
  (void)events;
  if (!p->active) return;
  if (status < 0) {
    deliver(p, 0, -status);
    return;
  }
  for (int round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
    uint32_t count = 0;
    int err = 0;
    while (count < p->max_batch) {
      ssize_t n = read(p->fd, p->rx + (size_t)count * p->slot + p->headroom, p->slot - p->headroom);
      if (n >= 0) {
        p->lens[count++] = (int32_t)n;
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (count == 0 && err == 0) return;
    if (!deliver(p, count, err)) return;
    if (err != 0 || count < p->max_batch) return;
  }
}

/* pollStart(fd, rx: ArrayBuffer, slot: number, lens: Int32Array, cb, headroom = 0) -> external */
static napi_value PollStart(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t argc = 6;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_TUN_ADDON", "too few arguments");
    return NULL;
  }
  int32_t fd, slot, headroom = 0;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int32(env, argv[2], &slot));
  if (argc > 5) CHECK(napi_get_value_int32(env, argv[5], &headroom));
  void *rx;
  size_t rx_len;
  CHECK(napi_get_arraybuffer_info(env, argv[1], &rx, &rx_len));
  napi_typedarray_type t;
  size_t nlens;
  void *lens;
  napi_value lens_ab;
  size_t lens_off;
  CHECK(napi_get_typedarray_info(env, argv[3], &t, &nlens, &lens, &lens_ab, &lens_off));
  if (t != napi_int32_array || slot <= 0 || headroom < 0 || headroom >= slot || nlens == 0 ||
      (size_t)slot * nlens > rx_len) {
    napi_throw_range_error(env, "ERR_TUN_ADDON", "pollStart: bad buffer geometry");
    return NULL;
  }
  poller_t *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "calloc", NULL);
  p->env = env;
  p->fd = fd;
  p->rx = rx;
  p->slot = (size_t)slot;
  p->headroom = (size_t)headroom;
  p->lens = lens;
  p->max_batch = (uint32_t)nlens;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &p->poll, fd);
  if (r < 0) {
    free(p);
    return throw_errno(env, -r, "uv_poll_init", NULL);
  }
  p->poll.data = p;
  napi_value resource, rname;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "l3kit:TunRead", NAPI_AUTO_LENGTH, &rname));
  CHECK(napi_async_init(env, resource, rname, &p->actx));
  CHECK(napi_create_reference(env, resource, 1, &p->resource));
  CHECK(napi_create_reference(env, argv[4], 1, &p->cb));
  CHECK(napi_create_reference(env, argv[1], 1, &p->rx_ref));
  CHECK(napi_create_reference(env, argv[3], 1, &p->lens_ref));
  r = uv_poll_start(&p->poll, UV_READABLE, on_poll);
  if (r < 0) {
    napi_delete_reference(env, p->cb);
    napi_delete_reference(env, p->rx_ref);
    napi_delete_reference(env, p->lens_ref);
    napi_delete_reference(env, p->resource);
    napi_async_destroy(env, p->actx);
    uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    return throw_errno(env, -r, "uv_poll_start", NULL);
  }
  p->active = 1;
  napi_value ext;
  CHECK(napi_create_external(env, p, NULL, NULL, &ext));
  return ext;
}

static poller_t *get_poller(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, "ERR_TUN_ADDON", "not a poll handle");
    return NULL;
  }
  return (poller_t *)p;
}

/* pollStop(handle): idempotent. The fd may be closed right after this returns. */
static napi_value PollStop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  poller_t *p = get_poller(env, argv[0]);
  if (!p || !p->active) return NULL;
  p->active = 0;
  uv_poll_stop(&p->poll);
  napi_delete_reference(env, p->cb);
  napi_delete_reference(env, p->rx_ref);
  napi_delete_reference(env, p->lens_ref);
  napi_delete_reference(env, p->resource);
  napi_async_destroy(env, p->actx);
  uv_close((uv_handle_t *)&p->poll, on_poll_closed);
  return NULL;
}

/* pollRef(handle, ref: boolean): whether the poll keeps the event loop alive. */
static napi_value PollRef(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  poller_t *p = get_poller(env, argv[0]);
  if (!p || !p->active) return NULL;
  bool ref;
  CHECK(napi_get_value_bool(env, argv[1], &ref));
  if (ref)
    uv_ref((uv_handle_t *)&p->poll);
  else
    uv_unref((uv_handle_t *)&p->poll);
  return NULL;
}

/* ---- writer ---------------------------------------------------------------------------- */

static int bytes_of(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok ||
      (t != napi_uint8_array && t != napi_int8_array && t != napi_uint8_clamped_array)) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return 0;
  }
  return 1;
}

static ssize_t write_one(int fd, void *data, size_t len, void *hdr, size_t hlen) {
  ssize_t n;
  do {
    if (hdr) {
      struct iovec iov[2] = {{hdr, hlen}, {data, len}};
      n = writev(fd, iov, 2);
    } else {
      n = write(fd, data, len);
    }
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -(ssize_t)errno : n;
}

/* write(fd, pkt: Uint8Array, hdr?: Uint8Array): bytes written or -errno */
static napi_value Write(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_TUN_ADDON", "write(fd, pkt[, hdr])");
    return NULL;
  }
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  void *data, *hdr = NULL;
  size_t len, hlen = 0;
  if (!bytes_of(env, argv[1], &data, &len)) return ret_int(env, -EINVAL);
  if (argc >= 3) {
    napi_valuetype vt;
    CHECK(napi_typeof(env, argv[2], &vt));
    if (vt != napi_undefined && !bytes_of(env, argv[2], &hdr, &hlen)) return ret_int(env, -EINVAL);
  }
  return ret_int(env, write_one(fd, data, len, hdr, hlen));
}

/* writeMany(fd, pkts: Uint8Array[], count, results: Int32Array): number of packets written */
static napi_value WriteMany(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int32_t fd;
  uint32_t count;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[2], &count));
  napi_typedarray_type t;
  size_t nres;
  void *res;
  napi_value ab;
  size_t off;
  CHECK(napi_get_typedarray_info(env, argv[3], &t, &nres, &res, &ab, &off));
  if (t != napi_int32_array || nres < count) {
    napi_throw_range_error(env, "ERR_TUN_ADDON", "writeMany: results too short");
    return NULL;
  }
  int32_t *results = res;
  int64_t ok = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    CHECK(napi_get_element(env, argv[1], i, &el));
    void *data;
    size_t len;
    if (!bytes_of(env, el, &data, &len)) {
      results[i] = -EINVAL;
      continue;
    }
    ssize_t n = write_one(fd, data, len, NULL, 0);
    results[i] = (int32_t)n;
    if (n >= 0) ok++;
  }
  return ret_int(env, ok);
}

/* close(fd) */
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* ---- link control (ioctl on a socket, in the calling process's network namespace) ------ */

static int ctl_ioctl(unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  int r = ioctl(s, req, ifr);
  int err = r < 0 ? errno : 0;
  close(s);
  return -err;
}

static napi_value GetMtu(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name(env, argv[0], ifr.ifr_name)) return NULL;
  int r = ctl_ioctl(SIOCGIFMTU, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCGIFMTU");
  return ret_int(env, ifr.ifr_mtu);
}

static napi_value SetMtu(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name(env, argv[0], ifr.ifr_name)) return NULL;
  int32_t mtu;
  CHECK(napi_get_value_int32(env, argv[1], &mtu));
  ifr.ifr_mtu = mtu;
  int r = ctl_ioctl(SIOCSIFMTU, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCSIFMTU");
  return NULL;
}

static napi_value GetUp(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name(env, argv[0], ifr.ifr_name)) return NULL;
  int r = ctl_ioctl(SIOCGIFFLAGS, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCGIFFLAGS");
  napi_value b;
  napi_get_boolean(env, (ifr.ifr_flags & IFF_UP) != 0, &b);
  return b;
}

static napi_value SetUp(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name(env, argv[0], ifr.ifr_name)) return NULL;
  bool up;
  CHECK(napi_get_value_bool(env, argv[1], &up));
  int r = ctl_ioctl(SIOCGIFFLAGS, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCGIFFLAGS");
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  r = ctl_ioctl(SIOCSIFFLAGS, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCSIFFLAGS");
  return NULL;
}

static napi_value GetTxQueueLen(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name(env, argv[0], ifr.ifr_name)) return NULL;
  int r = ctl_ioctl(SIOCGIFTXQLEN, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCGIFTXQLEN");
  return ret_int(env, ifr.ifr_qlen);
}

static napi_value SetTxQueueLen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name(env, argv[0], ifr.ifr_name)) return NULL;
  int32_t qlen;
  CHECK(napi_get_value_int32(env, argv[1], &qlen));
  ifr.ifr_qlen = qlen;
  int r = ctl_ioctl(SIOCSIFTXQLEN, &ifr);
  if (r < 0) return throw_errno(env, -r, "ioctl", "SIOCSIFTXQLEN");
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"setVnetHdrSz", NULL, SetVnetHdrSz, NULL, NULL, NULL, napi_default, NULL},
      {"setOffload", NULL, SetOffload, NULL, NULL, NULL, napi_default, NULL},
      {"pollStart", NULL, PollStart, NULL, NULL, NULL, napi_default, NULL},
      {"pollStop", NULL, PollStop, NULL, NULL, NULL, napi_default, NULL},
      {"pollRef", NULL, PollRef, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, Write, NULL, NULL, NULL, napi_default, NULL},
      {"writeMany", NULL, WriteMany, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"getMtu", NULL, GetMtu, NULL, NULL, NULL, napi_default, NULL},
      {"setMtu", NULL, SetMtu, NULL, NULL, NULL, napi_default, NULL},
      {"getUp", NULL, GetUp, NULL, NULL, NULL, napi_default, NULL},
      {"setUp", NULL, SetUp, NULL, NULL, NULL, napi_default, NULL},
      {"getTxQueueLen", NULL, GetTxQueueLen, NULL, NULL, NULL, napi_default, NULL},
      {"setTxQueueLen", NULL, SetTxQueueLen, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  napi_value flags;
  napi_create_object(env, &flags);
#define FLAG(n)                                                                     \
  do {                                                                              \
    napi_value v_;                                                                  \
    napi_create_int32(env, n, &v_);                                                 \
    napi_set_named_property(env, flags, #n, v_);                                    \
  } while (0)
  FLAG(IFF_TUN);
  FLAG(IFF_NO_PI);
  FLAG(IFF_VNET_HDR);
  FLAG(IFF_MULTI_QUEUE);
  FLAG(TUN_F_CSUM);
  FLAG(TUN_F_TSO4);
  FLAG(TUN_F_TSO6);
  FLAG(TUN_F_TSO_ECN);
  napi_set_named_property(env, exports, "flags", flags);
  /* pollStart takes `headroom` (a JS side built against an older addon must not assume it). */
  napi_value yes;
  napi_get_boolean(env, true, &yes);
  napi_set_named_property(env, exports, "rxHeadroom", yes);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
