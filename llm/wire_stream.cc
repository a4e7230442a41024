// Streams (wire.h): what a caller's request asks of one, a whole answer as pieces, and reading a provider's
// stream. Pure functions, as the rest of wire; writing a caller's stream is its API's codec's (codec.h).
#include <algorithm>

#include "base/files.h"
#include "llm/wire.h"

namespace lineage::llm::wire {

using json = nlohmann::json;

namespace {

// The HTTP status an error event's type stands for, to classify it as an answer with that status would be.
int StatusOfErrorType(const std::string& type) {
  if (type == "overloaded_error") return 529;
  if (type == "rate_limit_error" || type == "rate_limit_exceeded") return 429;
  if (type == "authentication_error" || type == "invalid_api_key") return 401;
  if (type == "invalid_request_error") return 400;
  return 500;
}

}  // namespace

StreamRequest ParseStreamRequest(const json& body) {
  StreamRequest out;
  if (!body.is_object()) return out;
  out.stream = body.contains("stream") && body["stream"].is_boolean() && body["stream"].get<bool>();
  if (body.contains("stream_options") && body["stream_options"].is_object()) {
    const json& options = body["stream_options"];
    out.include_usage = options.contains("include_usage") && options["include_usage"].is_boolean() &&
                        options["include_usage"].get<bool>();
  }
  return out;
}

std::vector<StreamDelta> Pieces(const ChatResponse& response, std::size_t max_piece) {
  std::vector<StreamDelta> out;
  StreamDelta start{StreamDelta::Kind::kStart};
  start.id = response.id;
  start.model = response.model;
  start.usage = response.usage;
  start.usage.output = start.usage.reasoning = 0;
  out.push_back(start);
  auto split = [&](StreamDelta::Kind kind, int block, const std::string& text) {
    for (size_t at = 0; at < text.size(); at += max_piece) {
      StreamDelta d{kind, block};
      d.text = text.substr(at, max_piece);
      out.push_back(std::move(d));
    }
  };
  for (size_t i = 0; i < response.content.size(); ++i) {
    const Block& b = response.content[i];
    const int block = static_cast<int>(i);
    if (b.kind == Block::Kind::kText) {
      split(StreamDelta::Kind::kText, block, b.text);
    } else if (b.kind == Block::Kind::kToolCall) {
      StreamDelta call{StreamDelta::Kind::kToolCall, block};
      call.id = b.id;
      call.name = b.name;
      out.push_back(std::move(call));
      split(StreamDelta::Kind::kToolArguments, block, ArgumentsText(b.input));
    }
  }
  return out;
}

// --- Streams from providers -------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(Dialect dialect, DeltaHandler on_delta) : dialect_(dialect), on_delta_(std::move(on_delta)) {}

bool StreamDecoder::Hand(StreamDelta delta) {
  handed_ = true;
  if (on_delta_ && !on_delta_(delta)) stopped_ = true;
  return !stopped_;
}

bool StreamDecoder::Feed(std::string_view bytes) {
  if (error_ || stopped_) return false;
  // A provider's event with a field of the wrong type fails the answer, never the caller (this runs inside
  // curl's write callback, which no exception may cross).
  try {
    return FeedEvents(bytes);
  } catch (const json::exception& e) {
    error_ = ModelError{ErrorKind::kMalformedResponse, 200, std::string("the provider's stream is malformed: ") + e.what()};
    return false;
  }
}

bool StreamDecoder::FeedEvents(std::string_view bytes) {
  buffer_.append(bytes);
  // Events end with a blank line; a field line is "name: value" ("data" lines of one event join).
  for (;;) {
    size_t end = buffer_.find("\n\n"), skip = 2;
    if (const size_t crlf = buffer_.find("\r\n\r\n"); crlf != std::string::npos && crlf < end) end = crlf, skip = 4;
    if (end == std::string::npos) return true;
    const std::string block = buffer_.substr(0, end);
    buffer_.erase(0, end + skip);
    std::string event, data;
    size_t at = 0;
    while (at <= block.size()) {
      size_t eol = block.find('\n', at);
      if (eol == std::string::npos) eol = block.size();
      std::string line = block.substr(at, eol - at);
      at = eol + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (line.empty() || colon == 0) continue;  // a comment (": ping")
      std::string field = line.substr(0, colon), value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "event") event = value;
      if (field == "data") data += (data.empty() ? "" : "\n") + value;
    }
    if (!data.empty() && !OnEvent(event, data)) return false;
  }
}

bool StreamDecoder::OnEvent(const std::string& event, const std::string& data) {
  if (data == "[DONE]") return true;
  json parsed = JsonNesting(data) > kMaxNesting ? json(json::value_t::discarded) : json::parse(data, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    error_ = ModelError{ErrorKind::kMalformedResponse, 200, "the provider's stream holds an event that is not a JSON object"};
    return false;
  }
  if (event == "error" || parsed.contains("error")) {
    const json e = parsed.contains("error") && parsed["error"].is_object() ? parsed["error"] : parsed;
    const std::string type = e.contains("type") && e["type"].is_string() ? e["type"].get<std::string>()
                             : e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
    error_ = ClassifyHttpError(StatusOfErrorType(type), json{{"error", e}}.dump());
    error_->message = "mid-stream, " + error_->message;
    return false;
  }
  return dialect_ == Dialect::kOpenAI ? OnOpenAI(parsed) : OnAnthropic(parsed.value("type", event), parsed);
}

bool StreamDecoder::OnOpenAI(const json& chunk) {
  if (!started_) {
    started_ = true;
    whole_ = {{"id", chunk.value("id", "")}, {"object", "chat.completion"}, {"model", chunk.value("model", "")},
              {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}})}};
    StreamDelta start{StreamDelta::Kind::kStart};
    start.id = whole_["id"];
    start.model = whole_["model"];
    if (!Hand(std::move(start))) return false;
  }
  if (chunk.contains("usage") && chunk["usage"].is_object()) whole_["usage"] = chunk["usage"];
  if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) return true;
  const json& choice = chunk["choices"][0];
  if (!choice.is_object()) return true;
  json& message = whole_["choices"][0]["message"];
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) whole_["choices"][0]["finish_reason"] = choice["finish_reason"];
  if (!choice.contains("delta") || !choice["delta"].is_object()) return true;
  const json& delta = choice["delta"];
  if (delta.contains("content") && delta["content"].is_string() && !delta["content"].get<std::string>().empty()) {
    const std::string text = delta["content"];
    message["content"] = message["content"].get<std::string>() + text;
    if (!Hand(StreamDelta{StreamDelta::Kind::kText, 0, text})) return false;
  }
  if (!delta.contains("tool_calls") || !delta["tool_calls"].is_array()) return true;
  for (const json& call : delta["tool_calls"]) {
    if (!call.is_object() || !call.contains("index") || !call["index"].is_number_integer()) continue;
    const int index = call["index"].get<int>();
    if (index < 0 || index > 1024) continue;
    const int block = 1 + index;  // text is block 0
    json& calls = message["tool_calls"];
    if (!calls.is_array()) calls = json::array();
    while (static_cast<int>(calls.size()) <= index) {
      calls.push_back({{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
    }
    json& into = calls[index];
    const json fn = call.contains("function") && call["function"].is_object() ? call["function"] : json::object();
    if (call.contains("id") && call["id"].is_string()) into["id"] = call["id"];
    const bool opens = into["function"]["name"].get<std::string>().empty();
    if (opens && fn.contains("name") && fn["name"].is_string() && !fn["name"].get<std::string>().empty()) {
      into["function"]["name"] = fn["name"];
      StreamDelta open{StreamDelta::Kind::kToolCall, block};
      open.id = into["id"];
      open.name = fn["name"];
      if (!Hand(std::move(open))) return false;
    }
    if (fn.contains("arguments") && fn["arguments"].is_string() && !fn["arguments"].get<std::string>().empty()) {
      const std::string fragment = fn["arguments"];
      into["function"]["arguments"] = into["function"]["arguments"].get<std::string>() + fragment;
      if (!Hand(StreamDelta{StreamDelta::Kind::kToolArguments, block, fragment})) return false;
    }
  }
  return true;
}

bool StreamDecoder::OnAnthropic(const std::string& type, const json& event) {
  if (type == "message_start" && event.contains("message") && event["message"].is_object()) {
    started_ = true;
    whole_ = event["message"];
    whole_["content"] = json::array();
    Result<ChatResponse> so_far = ParseAnthropicResponse(whole_);
    StreamDelta start{StreamDelta::Kind::kStart};
    start.id = whole_.value("id", "");
    start.model = whole_.value("model", "");
    if (so_far.ok()) start.usage = so_far->usage;
    start.usage.output = 0;
    return Hand(std::move(start));
  }
  if (!started_) return true;  // a ping before the message
  const int index = event.contains("index") && event["index"].is_number_integer() ? event["index"].get<int>() : -1;
  json& content = whole_["content"];
  if (type == "content_block_start" && index >= 0 && index <= 1024 && event.contains("content_block")) {
    while (static_cast<int>(content.size()) <= index) content.push_back(json::object());
    content[index] = event["content_block"];
    const json& b = content[index];
    if (b.is_object() && b.value("type", "") == "tool_use") {
      StreamDelta open{StreamDelta::Kind::kToolCall, index};
      open.id = b.value("id", "");
      open.name = b.value("name", "");
      return Hand(std::move(open));
    }
    if (b.is_object() && b.value("type", "") == "text" && !b.value("text", "").empty()) {
      return Hand(StreamDelta{StreamDelta::Kind::kText, index, b.value("text", "")});
    }
    return true;
  }
  if (type == "content_block_delta" && index >= 0 && index < static_cast<int>(content.size()) && event.contains("delta") &&
      event["delta"].is_object()) {
    const json& d = event["delta"];
    json& b = content[index];
    if (d.value("type", "") == "text_delta" && d.contains("text") && d["text"].is_string()) {
      b["text"] = b.value("text", "") + d["text"].get<std::string>();
      return Hand(StreamDelta{StreamDelta::Kind::kText, index, d["text"]});
    }
    if (d.value("type", "") == "input_json_delta" && d.contains("partial_json") && d["partial_json"].is_string()) {
      arguments_[index] += d["partial_json"].get<std::string>();
      return Hand(StreamDelta{StreamDelta::Kind::kToolArguments, index, d["partial_json"]});
    }
    return true;  // thinking and signatures: nothing an agent acts on
  }
  if (type == "message_delta") {
    if (event.contains("delta") && event["delta"].is_object() && event["delta"].contains("stop_reason")) {
      whole_["stop_reason"] = event["delta"]["stop_reason"];
    }
    if (event.contains("usage") && event["usage"].is_object()) {
      for (const auto& [key, value] : event["usage"].items()) {
        if (!value.is_null()) whole_["usage"][key] = value;  // totals so far: they replace, never add
      }
    }
  }
  return true;
}

Result<ChatResponse> StreamDecoder::Finish() {
  if (!started_) return Status::InvalidArgument("the stream ended before the answer began");
  try {
    return FinishWhole();
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("the stream's answer is malformed: ") + e.what());
  }
}

Result<ChatResponse> StreamDecoder::FinishWhole() {
  if (dialect_ == Dialect::kAnthropic) {
    for (const auto& [index, text] : arguments_) whole_["content"][index]["input"] = ToolArguments(text);
    json& content = whole_["content"];
    content.erase(std::remove_if(content.begin(), content.end(), [](const json& b) { return b.empty(); }), content.end());
  }
  return ParseResponse(dialect_, whole_);
}

}  // namespace lineage::llm::wire
