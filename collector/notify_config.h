/* notify_config.h: the receiver keys of the --alerts file beyond name, type,
 * url, timeout and retries (docs/ALERTS.md "Receivers"); used by alert_config.c. */
#ifndef PK_NOTIFY_CONFIG_H
#define PK_NOTIFY_CONFIG_H

#include "yaml_doc.h"

struct alert_receiver;

/* "webhook, alertmanager, ..." for error messages. */
extern const char *const NOTIFY_TYPE_LIST;

/* enum alert_receiver_type of a type name, or -1. */
int notify_receiver_type(const char *name);

/* Takes key k of receiver r: 1 taken, 0 not one of these keys, -1 error (in L). */
int notify_receiver_key(struct yaml_doc *L, const char *k, const yaml_node_t *v, struct alert_receiver *r);

/* After every key of mapping m: the type's default URL, the URL's scheme and
 * what the type needs (a key, chat_id, from/to). 0 or -1 (error in L). */
int notify_receiver_finish(struct yaml_doc *L, const yaml_node_t *m, struct alert_receiver *r);

#endif
