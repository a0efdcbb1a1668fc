// Module entry: publishes the boundary's layout (offsets, sizes, kinds, flag
// bits, counter names) so TypeScript never repeats a magic number, and
// registers each part's bindings.
#include <napi.h>

#include <cstddef>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "boundary/flow_words.h"
#include "boundary/js_args.h"
#include "boundary/secrets.h"
#include "io/af_xdp.h"
#include "pipeline/pipeline_binding.h"

namespace syncache {

void InitCookieBinding(Napi::Env env, Napi::Object exports);
void InitRingBinding(Napi::Env env, Napi::Object exports);
void InitHandoffBinding(Napi::Env env, Napi::Object exports);
void InitNftSessionBinding(Napi::Env env, Napi::Object exports);
void InitDoorBinding(Napi::Env env, Napi::Object exports);

namespace {

Napi::Object Field(Napi::Env env, size_t offset, size_t elementBytes, size_t totalBytes) {
  Napi::Object f = Napi::Object::New(env);
  f.Set("offset", Napi::Number::New(env, static_cast<double>(offset)));
  f.Set("elementBytes", Napi::Number::New(env, static_cast<double>(elementBytes)));
  f.Set("length", Napi::Number::New(env, static_cast<double>(totalBytes / elementBytes)));
  return f;
}

#define BATCH_FIELD(name) \
  fields.Set(#name, Field(env, offsetof(PacketBatch, name), sizeof(PacketBatch::name[0]), sizeof(PacketBatch::name)))

Napi::Object BatchLayout(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("capacity", Napi::Number::New(env, kBatchCapacity));
  layout.Set("byteLength", Napi::Number::New(env, sizeof(PacketBatch)));
  Napi::Object fields = Napi::Object::New(env);
  BATCH_FIELD(time);
  BATCH_FIELD(saddr);
  BATCH_FIELD(daddr);
  BATCH_FIELD(seq);
  BATCH_FIELD(ack);
  BATCH_FIELD(tsval);
  BATCH_FIELD(tsecr);
  BATCH_FIELD(hash);
  BATCH_FIELD(cookie);
  BATCH_FIELD(payloadOffset);
  BATCH_FIELD(sport);
  BATCH_FIELD(dport);
  BATCH_FIELD(window);
  BATCH_FIELD(mss);
  BATCH_FIELD(vlan);
  BATCH_FIELD(payloadLength);
  BATCH_FIELD(kind);
  BATCH_FIELD(family);
  BATCH_FIELD(tcpFlags);
  BATCH_FIELD(wscale);
  BATCH_FIELD(optFlags);
  BATCH_FIELD(cookieState);
  BATCH_FIELD(mac);
  BATCH_FIELD(payload);
  layout.Set("fields", fields);
  layout.Set("noPayload", Napi::Number::New(env, kNoPayload));
  return layout;
}
#undef BATCH_FIELD

Napi::Object SecretsLayout(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("byteLength", Napi::Number::New(env, sizeof(CookieSecrets)));
  layout.Set("secretBytes", Napi::Number::New(env, kSecretBytes));
  layout.Set("version", Napi::Number::New(env, offsetof(CookieSecrets, version)));
  layout.Set("valid", Napi::Number::New(env, offsetof(CookieSecrets, valid)));
  layout.Set("active", Napi::Number::New(env, offsetof(CookieSecrets, active)));
  layout.Set("secret", Napi::Number::New(env, offsetof(CookieSecrets, secret)));
  layout.Set("flowHashKey", Napi::Number::New(env, offsetof(CookieSecrets, flowHashKey)));
  return layout;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("kinds", NumberTable(env, {{"none", kKindNone}, {"syn", kKindSyn}, {"ack", kKindAck},
                                           {"rst", kKindRst}, {"unreach", kKindUnreach}, {"synAck", kKindSynAck},
                                           {"sendRst", kKindSendRst}, {"sendAck", kKindSendAck}}));
  constants.Set("optFlags", NumberTable(env, {{"mss", kOptMss}, {"wscale", kOptWscale},
                                              {"sackPermitted", kOptSackPermitted}, {"timestamps", kOptTimestamps}}));
  constants.Set("cookieVerdicts", NumberTable(env, {{"notChecked", kCookieNotChecked}, {"valid", kCookieValid},
                                                    {"invalid", kCookieInvalid}, {"made", kCookieMade}}));
  constants.Set("handedOverFlowsMax", Napi::Number::New(env, FlowSet::kMaxFlows));
  // What an AF_XDP ring of the default layout pins (XDP_UMEM_REG counts it
  // against RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK).
  const AfXdpConfig xdp;
  constants.Set("xdpUmemBytes", Napi::Number::New(env, static_cast<double>(xdp.frameSize) * (xdp.rxFrames + xdp.txFrames)));
  return constants;
}

Napi::Object FlowLayout(Napi::Env env) {
  return NumberTable(env, {{"words", kFlowWords}, {"family", kFlowWordFamily}, {"peerAddress", kFlowWordPeerAddress},
                           {"localAddress", kFlowWordLocalAddress}, {"peerPort", kFlowWordPeerPort},
                           {"localPort", kFlowWordLocalPort}});
}

Napi::Array CounterNames(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env, kCounterCount);
  uint32_t i = 0;
#define SYNCACHE_COUNTER_NAME(name) names.Set(i++, Napi::String::New(env, #name));
  SYNCACHE_NATIVE_COUNTERS(SYNCACHE_COUNTER_NAME)
#undef SYNCACHE_COUNTER_NAME
  return names;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("batchLayout", BatchLayout(env));
  exports.Set("secretsLayout", SecretsLayout(env));
  exports.Set("flowLayout", FlowLayout(env));
  exports.Set("constants", Constants(env));
  exports.Set("counterNames", CounterNames(env));
  InitPipelineBinding(env, exports);
  InitCookieBinding(env, exports);
  InitRingBinding(env, exports);
  InitHandoffBinding(env, exports);
  InitNftSessionBinding(env, exports);
  InitDoorBinding(env, exports);
  return exports;
}

}  // namespace

}  // namespace syncache

Napi::Object Init(Napi::Env env, Napi::Object exports) { return syncache::InitModule(env, exports); }

NODE_API_MODULE(syncache, Init)
