// The model APIs agents call through the gateway, one codec each: OpenAI's Chat Completions and Responses,
// Anthropic's Messages. A codec is everything the gateway (and the fake model server) knows of one API:
// where it is served, how a caller's request reads into the internal form (llm.h), and how an answer is
// written back, whole or as a stream. Nothing outside the codecs branches on the API.
//
// Adding an API is one new file, codec_<api>.cc, defining a codec, and one line in the registry
// (codec.cc). What the codecs share (reading a conversation, the bookkeeping of a stream) is in
// codec_parts.h.
//
// Codecs are stateless and live for the whole process: share them between threads freely. A StreamEncoder
// is one caller's stream and belongs to one thread.
// (A StreamEncoder writes events; net::StreamWriter sends them.)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "llm/llm.h"
#include "llm/wire.h"

namespace lineage::llm {

// One caller's answer as its API's server-sent events (text/event-stream), written as the answer arrives.
// Each call returns the events to send now: Piece() for each piece (its kStart first; a piece before any
// kStart starts the answer itself), then Finish() with the whole response, or Fail() when the answer cannot
// be finished (the API's error event; what was sent stays sent).
class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  virtual std::string Piece(const StreamDelta& delta) = 0;
  virtual std::string Finish(const ChatResponse& whole) = 0;
  virtual std::string Fail(const ModelError& error) = 0;
  // Whether any event was written: before that an error can still go out as a plain HTTP error.
  virtual bool started() const = 0;
};

class ApiCodec {
 public:
  virtual ~ApiCodec() = default;

  // Where the API is served (always POST): "/v1/chat/completions".
  virtual const char* path() const = 0;
  // Its name in lineage's records and replays (CallReplayer): "chat_completions", "messages", "responses".
  virtual const char* name() const = 0;
  // The dialect its errors are written in (wire::ErrorBody, wire::HttpStatus).
  virtual wire::Dialect dialect() const = 0;
  // What the gateway records as the caller's dialect (CallRecord::dialect): "openai", "anthropic",
  // "openai-responses".
  virtual const char* record_dialect() const = 0;
  // Whether lineage's client calls providers in this API; the fake model server, standing in for a
  // provider, serves only those.
  virtual bool spoken_upstream() const = 0;

  // A caller's request as the internal form. InvalidArgument names the field at fault ("messages[2].content").
  // `stream` is read apart (wire::ParseStreamRequest). May throw nlohmann::json::exception on a field of
  // an unexpected type deep in a hostile body; the gateway turns that into the caller's 400.
  virtual Result<ChatRequest> ParseRequest(const nlohmann::json& body) const = 0;
  // A whole response, as the caller receives it.
  virtual nlohmann::json WriteResponse(const ChatResponse& response) const = 0;
  // A response this codec wrote (WriteResponse's JSON text, as recorded), read back to replay the call.
  // InvalidArgument says what is wrong with it; NotFound: this API's records cannot be read back.
  virtual Result<ChatResponse> ReadResponse(const std::string& recorded) const = 0;
  // A new stream towards one caller; `include_usage` is Chat Completions' stream_options.include_usage.
  virtual std::unique_ptr<StreamEncoder> NewStreamEncoder(bool include_usage) const = 0;
};

// The registry: every API the gateway serves, in the order its messages list them.
const std::vector<const ApiCodec*>& Codecs();

// The codec serving `method` `path` ("POST", "/v1/messages"); nullptr for any other request.
const ApiCodec* FindCodec(const std::string& method, const std::string& path);

// A whole response as `codec`'s stream, all at once.
std::string StreamBody(const ApiCodec& codec, const ChatResponse& response, bool include_usage);

}  // namespace lineage::llm
