/* rpc_client.c: channel setup and blocking unary calls for Picket's gRPC clients.
 * Each unary call uses a private completion queue, so it never mixes with a
 * caller's streaming queue. */
#include "rpc_client.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "wire.h"

/* Process-wide client security, set once from main() before any channel. */
static struct {
    int tls;
    char *ca_pem, *cert_pem, *key_pem;
    char token[PK_TOKEN_LEN + 1];
} security;

void rpc_client_clear_security(void)
{
    free(security.ca_pem);
    free(security.cert_pem);
    if (security.key_pem) {
        memset(security.key_pem, 0, strlen(security.key_pem));
        free(security.key_pem);
    }
    memset(&security, 0, sizeof security);
}

int rpc_client_set_security(const struct pk_tls_client *sec, char *err, size_t errlen)
{
    rpc_client_clear_security();
    if (sec->plaintext)
        return 0;
    security.tls = 1;
    security.ca_pem = strdup(sec->ca_pem);
    security.cert_pem = sec->cert_pem ? strdup(sec->cert_pem) : NULL;
    security.key_pem = sec->key_pem ? strdup(sec->key_pem) : NULL;
    memcpy(security.token, sec->token, sizeof security.token);
    if (!security.ca_pem || (sec->cert_pem && !security.cert_pem) || (sec->key_pem && !security.key_pem)) {
        rpc_client_clear_security();
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int rpc_client_security_from_opts(const struct pk_tls_opts *opts, const char *prog, char *err, size_t errlen)
{
    struct pk_tls_client sec;
    if (pk_tls_client_load(opts, prog, &sec, err, errlen) < 0)
        return -1;
    int rc = rpc_client_set_security(&sec, err, errlen);
    pk_tls_client_free(&sec);
    return rc;
}

/* TLS channel credentials, composed with the bearer token when there is one. */
static grpc_channel_credentials *secure_credentials(const char *ca_pem, const char *cert_pem, const char *key_pem,
                                                    const char *token)
{
    grpc_ssl_pem_key_cert_pair pair = {key_pem, cert_pem};
    grpc_channel_credentials *ssl = grpc_ssl_credentials_create(ca_pem, cert_pem ? &pair : NULL, NULL, NULL);
    if (!ssl || !token[0])
        return ssl;
    grpc_call_credentials *bearer = grpc_access_token_credentials_create(token, NULL);
    if (!bearer) {
        grpc_channel_credentials_release(ssl);
        return NULL;
    }
    grpc_channel_credentials *both = grpc_composite_channel_credentials_create(ssl, bearer, NULL);
    grpc_channel_credentials_release(ssl);
    grpc_call_credentials_release(bearer);
    return both;
}

void rpc_target(char *out, size_t size, const char *address)
{
    if (!strncmp(address, "ipv4:", 5) || !strncmp(address, "ipv6:", 5) || !strncmp(address, "dns:", 4) ||
        !strncmp(address, "unix:", 5)) {
        snprintf(out, size, "%s", address);
    } else if (!strncmp(address, "localhost:", 10)) {
        /* The c-ares resolver leaks under ASan (GRPC-C-NOTES.md); loopback needs no DNS. */
        snprintf(out, size, "ipv4:127.0.0.1:%s", address + 10);
    } else if (address[0] == '[') {
        snprintf(out, size, "ipv6:%s", address);
    } else {
        int dots = 0, digits_only = 1;
        for (const char *p = address; *p && *p != ':'; p++) {
            if (*p == '.')
                dots++;
            else if (*p < '0' || *p > '9')
                digits_only = 0;
        }
        if (dots == 3 && digits_only)
            snprintf(out, size, "ipv4:%s", address);
        else
            snprintf(out, size, "dns:///%s", address);
    }
}

grpc_channel *rpc_channel_create(const char *address)
{
    struct pk_tls_client sec = {.plaintext = !security.tls,
                                .ca_pem = security.ca_pem,
                                .cert_pem = security.cert_pem,
                                .key_pem = security.key_pem};
    memcpy(sec.token, security.token, sizeof sec.token);
    grpc_channel *ch = rpc_channel_create_with(address, &sec);
    memset(sec.token, 0, sizeof sec.token);
    return ch;
}

static grpc_channel *channel_create(const char *address, const struct pk_tls_client *sec, int alone)
{
    char target[512];
    rpc_target(target, sizeof target, address);
    grpc_arg args[5];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = PK_WIRE_MAX_MESSAGE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = PK_WIRE_MAX_MESSAGE;
    /* Reconnect quickly after a collector restart instead of gRPC's default 1 s..120 s. */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[2].value.integer = 2000;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[3].value.integer = 200;
    /* Equal channels share one connection (gRPC's global subchannel pool); a
     * pool of its own gives this channel its own connection. */
    args[4].type = GRPC_ARG_INTEGER;
    args[4].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[4].value.integer = 1;
    grpc_channel_args channel_args = {alone ? 5 : 4, args};
    grpc_channel_credentials *creds = sec->plaintext
                                          ? grpc_insecure_credentials_create()
                                          : secure_credentials(sec->ca_pem, sec->cert_pem, sec->key_pem, sec->token);
    if (!creds)
        return NULL;
    grpc_channel *ch = grpc_channel_create(target, creds, &channel_args);
    grpc_channel_credentials_release(creds);
    return ch;
}

grpc_channel *rpc_channel_create_with(const char *address, const struct pk_tls_client *sec)
{
    return channel_create(address, sec, 0);
}

grpc_channel *rpc_channel_create_alone(const char *address, const struct pk_tls_client *sec)
{
    return channel_create(address, sec, 1);
}

int rpc_call_send(grpc_call *call, grpc_byte_buffer *bb, grpc_byte_buffer **slot, void *tag)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    *slot = bb;
    if (!bb || grpc_call_start_batch(call, &op, 1, tag, NULL) != GRPC_CALL_OK) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        *slot = NULL;
        return -1;
    }
    return 0;
}

int rpc_call_recv(grpc_call *call, grpc_byte_buffer **slot, void *tag)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = slot;
    return grpc_call_start_batch(call, &op, 1, tag, NULL) == GRPC_CALL_OK ? 0 : -1;
}

int rpc_call_begin(grpc_call *call, grpc_metadata_array *initial_md, void *start_tag, struct rpc_call_end *end,
                   void *status_tag)
{
    *end->details = grpc_empty_slice();
    grpc_metadata_array_init(initial_md);
    grpc_metadata_array_init(end->trailing_md);
    if (!call)
        return -1;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = initial_md;
    int started = grpc_call_start_batch(call, ops, 2, start_tag, NULL) == GRPC_CALL_OK;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.status = end->status;
    ops[0].data.recv_status_on_client.status_details = end->details;
    ops[0].data.recv_status_on_client.trailing_metadata = end->trailing_md;
    /* The status batch is started even when the first was refused, so the call still ends. */
    int ends = grpc_call_start_batch(call, ops, 1, status_tag, NULL) == GRPC_CALL_OK;
    return started && ends ? 0 : -1;
}

grpc_byte_buffer *rpc_buffer_from(const uint8_t *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

uint8_t *rpc_buffer_read(grpc_byte_buffer *bb, size_t *len)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    size_t n = GRPC_SLICE_LENGTH(slice);
    uint8_t *out = malloc(n ? n : 1);
    if (out) {
        memcpy(out, GRPC_SLICE_START_PTR(slice), n);
        *len = n;
    }
    grpc_slice_unref(slice);
    return out;
}

int rpc_unary(grpc_channel *ch, const char *method, const uint8_t *req, size_t req_len, uint8_t **resp,
              size_t *resp_len, int timeout_ms, int *code, char *err, size_t errlen)
{
    int rc = -1;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice method_slice = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method_slice, NULL, deadline,
                                               NULL);
    grpc_slice_unref(method_slice);
    grpc_byte_buffer *send_buf = rpc_buffer_from(req, req_len);
    grpc_byte_buffer *recv_buf = NULL;
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    int tag;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
        snprintf(err, errlen, "%s: could not start the call", method);
        goto out;
    }
    grpc_event ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        snprintf(err, errlen, "%s: call did not complete", method);
        goto out;
    }
    if (code)
        *code = (int)status;
    if (status != GRPC_STATUS_OK) {
        snprintf(err, errlen, "%s: status %d: %.*s", method, (int)status, (int)GRPC_SLICE_LENGTH(details),
                 (const char *)GRPC_SLICE_START_PTR(details));
        goto out;
    }
    if (!recv_buf) {
        snprintf(err, errlen, "%s: no answer message", method);
        goto out;
    }
    *resp = rpc_buffer_read(recv_buf, resp_len);
    if (!*resp) {
        snprintf(err, errlen, "%s: could not read the answer", method);
        goto out;
    }
    rc = 0;
out:
    if (recv_buf)
        grpc_byte_buffer_destroy(recv_buf);
    grpc_byte_buffer_destroy(send_buf);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_slice_unref(details);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return rc;
}
