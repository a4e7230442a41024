// The registry of codecs, and what they share (codec_parts.h).
#include "llm/codec.h"

#include <algorithm>

#include "llm/codec_parts.h"

namespace lineage::llm {

// Each API's codec, defined in its own file.
const ApiCodec& ChatCompletionsCodec();  // codec_chat.cc
const ApiCodec& ResponsesCodec();        // codec_responses.cc
const ApiCodec& MessagesCodec();         // codec_messages.cc

const std::vector<const ApiCodec*>& Codecs() {
  static const std::vector<const ApiCodec*> all = {&ChatCompletionsCodec(), &ResponsesCodec(), &MessagesCodec()};
  return all;
}

const ApiCodec* FindCodec(const std::string& method, const std::string& path) {
  if (method != "POST") return nullptr;
  for (const ApiCodec* codec : Codecs()) {
    if (path == codec->path()) return codec;
  }
  return nullptr;
}

std::string StreamBody(const ApiCodec& codec, const ChatResponse& response, bool include_usage) {
  std::unique_ptr<StreamEncoder> encoder = codec.NewStreamEncoder(include_usage);
  std::string out;
  for (const StreamDelta& piece : wire::Pieces(response)) out += encoder->Piece(piece);
  return out + encoder->Finish(response);
}

namespace codec {

using json = nlohmann::json;

// --- Reading requests ---------------------------------------------------------------------------------

Status Bad(const std::string& field, const std::string& what) { return Status::InvalidArgument(field + " " + what); }
std::string Field(const std::string& path, const std::string& name) { return path + "." + name; }
std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

Status ReadModel(const json& body, ChatRequest& request) {
  if (!body.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  if (!body.contains("model") || !body["model"].is_string()) return Bad("model", "is required (a string)");
  request.model = body["model"].get<std::string>();
  return Status::OK();
}

Status ReadSampling(const json& body, ChatRequest& request) {
  LINEAGE_ASSIGN_OR_RETURN(request.temperature, OptionalNumber(body, "temperature"));
  LINEAGE_ASSIGN_OR_RETURN(request.top_p, OptionalNumber(body, "top_p"));
  return Status::OK();
}

Result<std::vector<std::string>> ReadStop(const json& body, const char* key) {
  std::vector<std::string> stop;
  if (!body.contains(key) || body[key].is_null()) return stop;
  const json& value = body[key];
  if (value.is_string()) return std::vector<std::string>{value.get<std::string>()};
  if (!value.is_array()) return Bad(key, "must be a string or an array of strings");
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) return Bad(Index(key, i), "must be a string");
    stop.push_back(value[i].get<std::string>());
  }
  return stop;
}

Result<std::string> TextOf(const json& content, const std::string& path, const std::vector<std::string>& types) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return Bad(path, "must be a string or an array of text parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string type =
        part.is_object() && part.contains("type") && part["type"].is_string() ? part["type"].get<std::string>() : "";
    if (std::find(types.begin(), types.end(), type) == types.end() || !part.contains("text") ||
        !part["text"].is_string()) {
      return Bad(Index(path, i), "is not a text part: only text content is supported");
    }
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

Result<std::optional<double>> OptionalNumber(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<double>();
  if (!body[key].is_number()) return Bad(key, "must be a number");
  return std::optional<double>(body[key].get<double>());
}

Result<std::optional<int>> OptionalPositiveInt(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<int>();
  if (!body[key].is_number_integer() || body[key].get<std::int64_t>() <= 0) {
    return Bad(key, "must be a positive integer");
  }
  return std::optional<int>(static_cast<int>(std::min<std::int64_t>(body[key].get<std::int64_t>(), 1 << 30)));
}

bool CacheControl(const json& part) {
  return part.is_object() && part.contains("cache_control") && part["cache_control"].is_object();
}

bool AnyCacheControl(const json& content) {
  return content.is_array() && std::any_of(content.begin(), content.end(), CacheControl);
}

void AddSystem(ChatRequest& request, const std::string& text, bool cache) {
  if (!request.system.empty()) request.system += "\n\n";
  request.system += text;
  request.system_cache = request.system_cache || cache;
}

void AddBlocks(ChatRequest& request, Role role, std::vector<Block> blocks) {
  if (blocks.empty()) return;
  std::vector<Message>& messages = request.messages;
  if (messages.empty() || messages.back().role != role) messages.push_back(Message{role, {}});
  auto& content = messages.back().content;
  content.insert(content.end(), std::make_move_iterator(blocks.begin()), std::make_move_iterator(blocks.end()));
}

Block ToolCallWithArguments(const std::string& id, const std::string& name, const std::string& arguments) {
  return Block::ToolCall(id, name, wire::ToolArguments(arguments));
}

// --- Reading responses back -------------------------------------------------------------------------

Result<ChatResponse> ReadRecorded(const std::string& recorded, Result<ChatResponse> (*parse)(const json&)) {
  json body = json::parse(recorded, nullptr, false);
  if (body.is_discarded()) return Status::InvalidArgument("not JSON");
  return parse(body);
}

// --- Writing streams ----------------------------------------------------------------------------------

std::string Sse(const std::string& event, const json& data) {
  return (event.empty() ? "" : "event: " + event + "\n") + "data: " +
         data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string BlockStreamEncoder::Piece(const StreamDelta& delta) {
  if (delta.kind == StreamDelta::Kind::kStart) {
    if (started_) return "";
    started_ = true;
    id_ = delta.id;
    model_ = delta.model;
    start_usage_ = delta.usage;
    return Start();
  }
  std::string out;
  if (!started_) out += Piece(StreamDelta{StreamDelta::Kind::kStart});
  const bool text = delta.kind == StreamDelta::Kind::kText;
  if (delta.kind == StreamDelta::Kind::kToolCall || delta.block != open_block_ || text != open_is_text_) {
    if (delta.kind == StreamDelta::Kind::kToolArguments) return out;  // arguments of a call never opened
    if (!(text && JoinsText() && open_block_ >= 0 && open_is_text_)) {
      out += CloseOpen();
      out += Open(delta);
    }
    open_block_ = delta.block;
    open_is_text_ = text;
  }
  if (delta.text.empty()) return out;
  return out + Delta(text, delta.text);
}

std::string BlockStreamEncoder::CloseOpen() {
  if (open_block_ < 0) return "";
  open_block_ = -1;
  return Close(open_is_text_);
}

std::string BlockStreamEncoder::Finish(const ChatResponse& whole) {
  std::string out;
  if (!started_) out += Piece(StreamDelta{StreamDelta::Kind::kStart, 0, "", whole.id, "", whole.model, whole.usage});
  out += CloseOpen();
  return out + End(whole);
}

}  // namespace codec
}  // namespace lineage::llm
