// supervisor: the demo tree's root. Its children come from [[children]] in demo.toml; the
// runtime applies [supervision] when one fails. It forwards requests to a child by name:
//   request "to <child-name> <message>"  -> the child's reply, or "error: <code>"
//   request "children"                   -> the children's ids (JSON)
#include "theater.h"

static const char* rc_name(int32_t rc) {
  switch (rc) {
    case THEATER_ENOTFOUND: return "ENOTFOUND";
    case THEATER_ETIMEOUT: return "ETIMEOUT";
    case THEATER_EFULL: return "EFULL";
    case THEATER_ESTOPPED: return "ESTOPPED";
    case THEATER_EFAILED: return "EFAILED (the child failed; it is being restarted)";
    default: return "error";
  }
}

// Finds the id of the child whose manifest name is `name` (ids are "<name>-<hex>").
static int find_child(const uint8_t* name, int32_t name_len, char* out, int32_t out_size) {
  theater_buf list = {0, 0};
  if (theater_list_children(&list) < 0) return 0;
  int found = 0;
  for (int32_t i = 0; i < list.len && !found; ++i) {
    if (list.ptr[i] != '"') continue;
    int32_t start = i + 1, end = start;
    while (end < list.len && list.ptr[end] != '"') ++end;
    int32_t id_len = end - start;
    if (id_len > name_len && id_len < out_size && memcmp(list.ptr + start, name, (size_t)name_len) == 0 &&
        list.ptr[start + name_len] == '-') {
      memcpy(out, list.ptr + start, (size_t)id_len);
      out[id_len] = '\0';
      found = 1;
    }
    i = end;
  }
  theater_buf_free(&list);
  return found;
}

THEATER_EXPORT(theater_handle_request)
int32_t on_request(const uint8_t* msg, int32_t len) {
  if (theater_msg_is(msg, len, "children")) {
    theater_buf list = {0, 0};
    if (theater_list_children(&list) < 0) return 1;
    int32_t rc = theater_reply(list.ptr, list.len);
    theater_buf_free(&list);
    return rc < 0;
  }
  if (!theater_msg_is(msg, len, "to")) return theater_reply_str("expected: to <child> <message> | children") < 0;
  int32_t rest_len;
  const uint8_t* rest = theater_msg_arg(msg, len, &rest_len);
  int32_t name_len = 0;
  while (name_len < rest_len && rest[name_len] != ' ') ++name_len;
  int32_t body_len;
  const uint8_t* body = theater_msg_arg(rest, rest_len, &body_len);
  char id[128];
  if (!find_child(rest, name_len, id, sizeof id)) return theater_reply_str("error: no such child") < 0;
  theater_buf reply = {0, 0};
  int32_t rc = theater_request(id, body, body_len, 10000, &reply);
  if (rc < 0) {
    char buf[96];
    int n = snprintf(buf, sizeof buf, "error: %s", rc_name(rc));
    return theater_reply(buf, n) < 0;
  }
  rc = theater_reply(reply.ptr, reply.len);
  theater_buf_free(&reply);
  return rc < 0;
}
