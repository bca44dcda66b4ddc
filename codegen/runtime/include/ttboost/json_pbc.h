/*
 * ttboost/json_pbc.h — helpers the generated JSON codecs for protobuf-c
 * structs (the server's flavour) use: allocation through a ProtobufCAllocator
 * (NULL = malloc/free, as protobuf-c itself), strings and bytes read into
 * heap memory that the message's free_unpacked() releases, and the bound and
 * UTF-8 checks a message decoded from binary needs (protobuf-c checks none).
 */
#ifndef TTBOOST_JSON_PBC_H
#define TTBOOST_JSON_PBC_H

#include <protobuf-c/protobuf-c.h>

#include "ttboost/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates n bytes with a (NULL: malloc); NULL when out of memory. */
void *ttb_pbc_alloc(ProtobufCAllocator *a, size_t n);

/* Frees p with a (NULL: free). p may be NULL. */
void ttb_pbc_free(ProtobufCAllocator *a, void *p);

/* Reads the string at token i into a new allocation in *dst, freeing what
 * *dst held unless it is protobuf-c's shared empty string. */
bool ttb_pbc_jr_string(ttb_jr *r, int i, const char *field, size_t max_len, char **dst,
                       ProtobufCAllocator *a);

/* Reads base64 at token i into dst->data (allocated) and dst->len. */
bool ttb_pbc_jr_bytes(ttb_jr *r, int i, const char *field, size_t max_len, ProtobufCBinaryData *dst,
                      ProtobufCAllocator *a);

/* Allocates a zeroed array of n elements of size elem for a repeated field;
 * fails (error set) when the field already has elements (the nanopb
 * decoders do the same) or on no memory; an empty array given before is
 * freed and replaced. */
bool ttb_pbc_jr_array(ttb_jr *r, const char *field, size_t have, size_t n, size_t elem, void **out,
                      ProtobufCAllocator *a);

#ifdef __cplusplus
}
#endif

#endif /* TTBOOST_JSON_PBC_H */
