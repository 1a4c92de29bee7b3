/* rpc_health.c: grpc.health.v1.Health/Check, for load balancers and probes'
 * readiness checks: SERVING while ingest can reach PostgreSQL. Needs no
 * credential and is answered on the completion-queue thread (no database call:
 * ingest keeps the health flag). */
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc_int.h"

void rpc_health_on_request(struct unary *u)
{
    Grpc__Health__V1__HealthCheckRequest *req =
        (Grpc__Health__V1__HealthCheckRequest *)rpc_unpack_message(u->method->request, u->request);
    if (!req) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, u->method->malformed, NULL);
        return;
    }
    const char *svc = req->service ? req->service : "";
    int known = !svc[0] || !strcmp(svc, "picket.v1.ProbeService") || !strcmp(svc, "picket.v1.QueryService");
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (!known) {
        rpc_unary_reply(u, GRPC_STATUS_NOT_FOUND, "unknown service", NULL);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = ingest_db_healthy(u->srv->ingest)
                      ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}
