// supervisor: the root of the demo tree (demo.toml). Its children come from [[children]]
// (counter, echo, crasher), started by the runtime after this actor's init; the runtime applies
// [supervision] when one fails, so this code only routes messages and reports.
//
// How it addresses children: by manifest name. It does not remember ids (a child's id is made by
// the runtime and the children start after init); it asks list_children each time and picks the
// id of the form "<name>-<hex>", the runtime's id format.
//
//   request "to <child> <message>"   forwards <message> as a request, replies the child's reply
//                                    or "error: <code>" (EFAILED when the child failed on it)
//   send    "to <child> <message>"   forwards <message> as a send
//   request "children"               the children's ids (JSON array)
//   request "restart <child>"        restart_child; replies the rc
//   request "events <child>"         child_events (JSON)
//   request "state <child>"          child_state
// Normal stops of children (theater_handle_child_exit) are logged.
#include "theater.h"

static const char* rc_name(int32_t rc) {
  switch (rc) {
    case THEATER_EINVAL: return "EINVAL";
    case THEATER_ENOTFOUND: return "ENOTFOUND";
    case THEATER_EDENIED: return "EDENIED";
    case THEATER_ETIMEOUT: return "ETIMEOUT";
    case THEATER_EFULL: return "EFULL";
    case THEATER_ESTOPPED: return "ESTOPPED";
    case THEATER_ETOOBIG: return "ETOOBIG";
    case THEATER_EFAILED: return "EFAILED (the child failed on it; see its restart)";
    default: return "error";
  }
}

// Finds the id of the child named `name` (ids are "<name>-<hex>") into out. Returns 1 if found.
static int find_child(const uint8_t* name, int32_t name_len, char* out, int32_t out_size) {
  theater_buf list = {0, 0};
  if (name_len <= 0 || theater_list_children(&list) < 0) return 0;
  int found = 0;
  const char* id;
  int32_t n;
  for (int32_t i = 0; !found && (n = theater_json_array_str(list.ptr, list.len, i, &id)) >= 0; ++i) {
    if (n > name_len && n < out_size && memcmp(id, name, (size_t)name_len) == 0 && id[name_len] == '-') {
      memcpy(out, id, (size_t)n);
      out[n] = '\0';
      found = 1;
    }
  }
  theater_buf_free(&list);
  return found;
}

// Splits "<cmd> <child> <rest>": finds the child's id; rest may be empty.
static int parse_target(const uint8_t* msg, int32_t len, char* id, int32_t id_size, const uint8_t** rest,
                        int32_t* rest_len) {
  int32_t args_len;
  const uint8_t* args = theater_msg_arg(msg, len, &args_len);
  const int32_t name_len = theater_word_len(args, args_len);
  *rest = theater_msg_arg(args, args_len, rest_len);
  return find_child(args, name_len, id, id_size);
}

static int32_t reply_rc(int32_t rc) {
  return (rc < 0 ? theater_reply_fmt("error: %s", rc_name(rc)) : theater_reply_int(rc)) < 0;
}

static int32_t reply_buf(int32_t rc, theater_buf* b) {
  if (rc < 0) return reply_rc(rc);
  rc = theater_reply(b->ptr, b->len);
  theater_buf_free(b);
  return rc < 0;
}

THEATER_HANDLE_REQUEST(on_request) {
  theater_buf b = {0, 0};
  if (theater_msg_is(msg, len, "children")) return reply_buf(theater_list_children(&b), &b);
  char id[128];
  const uint8_t* rest;
  int32_t rest_len;
  const int known = theater_msg_is(msg, len, "to") || theater_msg_is(msg, len, "restart") ||
                    theater_msg_is(msg, len, "events") || theater_msg_is(msg, len, "state");
  if (!known) return theater_reply_str("expected: to <child> <message> | children | restart|events|state <child>") < 0;
  if (!parse_target(msg, len, id, (int32_t)sizeof id, &rest, &rest_len)) {
    return theater_reply_str("error: no such child") < 0;
  }
  if (theater_msg_is(msg, len, "restart")) return reply_rc(theater_restart_child_str(id));
  if (theater_msg_is(msg, len, "events")) return reply_buf(theater_child_events_str(id, &b), &b);
  if (theater_msg_is(msg, len, "state")) return reply_buf(theater_child_state_str(id, &b), &b);
  return reply_buf(theater_request(id, theater_slen(id), rest, rest_len, 10000, &b), &b);
}

THEATER_HANDLE_SEND(on_send) {
  char id[128];
  const uint8_t* rest;
  int32_t rest_len;
  if (!theater_msg_is(msg, len, "to") || !parse_target(msg, len, id, (int32_t)sizeof id, &rest, &rest_len)) {
    theater_log_fmt(THEATER_WARN, "cannot route '%.*s'", (int)len, (const char*)msg);
    return 0;
  }
  const int32_t rc = theater_send(id, theater_slen(id), rest, rest_len);
  if (rc < 0) theater_log_fmt(THEATER_WARN, "send to %s: %s", id, rc_name(rc));
  return 0;
}

THEATER_HANDLE_CHILD_EXIT(on_child_exit) {
  theater_log_fmt(THEATER_INFO, "child %.*s stopped normally: %.*s", (int)id_len, (const char*)id, (int)result_len,
                  (const char*)result);
  return 0;
}
