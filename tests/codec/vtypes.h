/* A table of every v1 message type with both flavours' codecs behind
 * void-pointer wrappers, so tests can loop over tests/vectors/index.txt. */
#ifndef TTB_TEST_VTYPES_H
#define TTB_TEST_VTYPES_H

#include <pb_decode.h>
#include <pb_encode.h>
#include <stdlib.h>

#include "ttboost/v1/auth.npb-json.h"
#include "ttboost/v1/auth.pbc-json.h"
#include "ttboost/v1/events.npb-json.h"
#include "ttboost/v1/events.pbc-json.h"
#include "ttboost/v1/ingest.npb-json.h"
#include "ttboost/v1/ingest.pbc-json.h"
#include "ttboost/v1/trace.npb-json.h"
#include "ttboost/v1/trace.pbc-json.h"
#include "ttboost/v1/tts.npb-json.h"
#include "ttboost/v1/tts.pbc-json.h"

typedef struct vtype {
  const char *name;
  const ProtobufCMessageDescriptor *pbc_desc;
  void *(*pbc_from_json)(const char *, size_t, ttb_json_error *);
  char *(*pbc_to_json)(const void *, size_t *, ttb_json_error *);
  bool (*pbc_validate)(const void *, char *, size_t);
  const pb_msgdesc_t *npb_fields;
  size_t npb_size;
  bool (*npb_from_json)(const char *, size_t, void *, ttb_json_error *);
  bool (*npb_to_json)(const void *, char *, size_t, size_t *, ttb_json_error *);
  bool (*npb_validate)(const void *, char *, size_t);
} vtype;

#define VT_WRAP(Name, PbcType, pbc_lower, NpbType)                                            \
  static void *Name##_pbc_from(const char *js, size_t n, ttb_json_error *e)                   \
  {                                                                                           \
    return ttb_pbc_ttboost_v1_##Name##_from_json(js, n, NULL, e);                             \
  }                                                                                           \
  static char *Name##_pbc_to(const void *m, size_t *n, ttb_json_error *e)                     \
  {                                                                                           \
    return ttb_pbc_ttboost_v1_##Name##_to_json((const PbcType *)m, n, e);                     \
  }                                                                                           \
  static bool Name##_pbc_val(const void *m, char *err, size_t len)                            \
  {                                                                                           \
    return ttb_pbc_ttboost_v1_##Name##_validate((const PbcType *)m, err, len);                \
  }                                                                                           \
  static bool Name##_npb_from(const char *js, size_t n, void *m, ttb_json_error *e)           \
  {                                                                                           \
    return ttb_npb_ttboost_v1_##Name##_from_json(js, n, (NpbType *)m, e);                     \
  }                                                                                           \
  static bool Name##_npb_to(const void *m, char *b, size_t cap, size_t *n, ttb_json_error *e) \
  {                                                                                           \
    return ttb_npb_ttboost_v1_##Name##_to_json((const NpbType *)m, b, cap, n, e);             \
  }                                                                                           \
  static bool Name##_npb_val(const void *m, char *err, size_t len)                            \
  {                                                                                           \
    return ttb_npb_ttboost_v1_##Name##_validate((const NpbType *)m, err, len);                \
  }

#define VT_ROW(Name, pbc_lower, NpbType)                                                  \
  {                                                                                       \
#Name, &pbc_lower##__descriptor, Name##_pbc_from, Name##_pbc_to, Name##_pbc_val,      \
        NpbType##_fields, sizeof(NpbType), Name##_npb_from, Name##_npb_to, Name##_npb_val \
  }

VT_WRAP(LoginRequest, Ttboost__V1__LoginRequest, ttboost__v1__login_request,
        ttboost_v1_LoginRequest)
VT_WRAP(LoginResponse, Ttboost__V1__LoginResponse, ttboost__v1__login_response,
        ttboost_v1_LoginResponse)
VT_WRAP(LogoutResponse, Ttboost__V1__LogoutResponse, ttboost__v1__logout_response,
        ttboost_v1_LogoutResponse)
VT_WRAP(ErrorResponse, Ttboost__V1__ErrorResponse, ttboost__v1__error_response,
        ttboost_v1_ErrorResponse)
VT_WRAP(TiktokSettings, Ttboost__V1__TiktokSettings, ttboost__v1__tiktok_settings,
        ttboost_v1_TiktokSettings)
VT_WRAP(TiktokInfo, Ttboost__V1__TiktokInfo, ttboost__v1__tiktok_info, ttboost_v1_TiktokInfo)
VT_WRAP(OverlayTokenRequest, Ttboost__V1__OverlayTokenRequest, ttboost__v1__overlay_token_request,
        ttboost_v1_OverlayTokenRequest)
VT_WRAP(OverlayTokenCreated, Ttboost__V1__OverlayTokenCreated, ttboost__v1__overlay_token_created,
        ttboost_v1_OverlayTokenCreated)
VT_WRAP(OverlayTokenList, Ttboost__V1__OverlayTokenList, ttboost__v1__overlay_token_list,
        ttboost_v1_OverlayTokenList)
VT_WRAP(OverlayTokenRevoke, Ttboost__V1__OverlayTokenRevoke, ttboost__v1__overlay_token_revoke,
        ttboost_v1_OverlayTokenRevoke)
VT_WRAP(TtsRequest, Ttboost__V1__TtsRequest, ttboost__v1__tts_request, ttboost_v1_TtsRequest)
VT_WRAP(TtsResponse, Ttboost__V1__TtsResponse, ttboost__v1__tts_response, ttboost_v1_TtsResponse)
VT_WRAP(ServerMessage, Ttboost__V1__ServerMessage, ttboost__v1__server_message,
        ttboost_v1_ServerMessage)
VT_WRAP(ClientMessage, Ttboost__V1__ClientMessage, ttboost__v1__client_message,
        ttboost_v1_ClientMessage)
VT_WRAP(IngestEvent, Ttboost__V1__IngestEvent, ttboost__v1__ingest_event, ttboost_v1_IngestEvent)
VT_WRAP(IngestResponse, Ttboost__V1__IngestResponse, ttboost__v1__ingest_response,
        ttboost_v1_IngestResponse)
VT_WRAP(TraceHeader, Ttboost__V1__TraceHeader, ttboost__v1__trace_header, ttboost_v1_TraceHeader)
VT_WRAP(TraceRecord, Ttboost__V1__TraceRecord, ttboost__v1__trace_record, ttboost_v1_TraceRecord)

static const vtype vtypes[] = {
    VT_ROW(LoginRequest, ttboost__v1__login_request, ttboost_v1_LoginRequest),
    VT_ROW(LoginResponse, ttboost__v1__login_response, ttboost_v1_LoginResponse),
    VT_ROW(LogoutResponse, ttboost__v1__logout_response, ttboost_v1_LogoutResponse),
    VT_ROW(ErrorResponse, ttboost__v1__error_response, ttboost_v1_ErrorResponse),
    VT_ROW(TiktokSettings, ttboost__v1__tiktok_settings, ttboost_v1_TiktokSettings),
    VT_ROW(TiktokInfo, ttboost__v1__tiktok_info, ttboost_v1_TiktokInfo),
    VT_ROW(OverlayTokenRequest, ttboost__v1__overlay_token_request, ttboost_v1_OverlayTokenRequest),
    VT_ROW(OverlayTokenCreated, ttboost__v1__overlay_token_created, ttboost_v1_OverlayTokenCreated),
    VT_ROW(OverlayTokenList, ttboost__v1__overlay_token_list, ttboost_v1_OverlayTokenList),
    VT_ROW(OverlayTokenRevoke, ttboost__v1__overlay_token_revoke, ttboost_v1_OverlayTokenRevoke),
    VT_ROW(TtsRequest, ttboost__v1__tts_request, ttboost_v1_TtsRequest),
    VT_ROW(TtsResponse, ttboost__v1__tts_response, ttboost_v1_TtsResponse),
    VT_ROW(ServerMessage, ttboost__v1__server_message, ttboost_v1_ServerMessage),
    VT_ROW(ClientMessage, ttboost__v1__client_message, ttboost_v1_ClientMessage),
    VT_ROW(IngestEvent, ttboost__v1__ingest_event, ttboost_v1_IngestEvent),
    VT_ROW(IngestResponse, ttboost__v1__ingest_response, ttboost_v1_IngestResponse),
    VT_ROW(TraceHeader, ttboost__v1__trace_header, ttboost_v1_TraceHeader),
    VT_ROW(TraceRecord, ttboost__v1__trace_record, ttboost_v1_TraceRecord),
};

static inline const vtype *vtype_find(const char *name)
{
  for (size_t i = 0; i < sizeof vtypes / sizeof vtypes[0]; i++)
    if (strcmp(vtypes[i].name, name) == 0)
      return &vtypes[i];
  return NULL;
}

#endif
