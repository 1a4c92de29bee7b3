/* tls_buffers.h: OpenSSL record buffers released while a TLS connection is idle
 * (SSL_MODE_RELEASE_BUFFERS on the contexts gRPC creates); see tls_buffers.c. */
#ifndef PK_TLS_BUFFERS_H
#define PK_TLS_BUFFERS_H

/* 1 once a TLS context was created with the mode set (after the server started). */
int tls_buffers_active(void);

#endif
