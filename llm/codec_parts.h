// What the codecs (codec.h) have in common: reading a caller's conversation into the internal form, and
// the bookkeeping of a stream. For the codec_*.cc files only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "llm/codec.h"
#include "llm/llm.h"

namespace lineage::llm::codec {

// --- Reading requests ---------------------------------------------------------------------------------

// The caller's mistake, naming the field at fault: Bad("messages[2].role", "is required (a string)").
Status Bad(const std::string& field, const std::string& what);
std::string Field(const std::string& path, const std::string& name);  // "messages[2]" "role": "messages[2].role"
std::string Index(const std::string& path, size_t i);                 // "messages" 2: "messages[2]"

// The start of every API's request: a JSON object with a string `model`.
Status ReadModel(const nlohmann::json& body, ChatRequest& request);
// temperature and top_p, optional numbers.
Status ReadSampling(const nlohmann::json& body, ChatRequest& request);
// Stop sequences at `key`: a string or an array of strings.
Result<std::vector<std::string>> ReadStop(const nlohmann::json& body, const char* key);
// Text from a string or an array of text parts ({type, text}) whose type is one of `types`; anything else
// is refused, naming the part at `path`.
Result<std::string> TextOf(const nlohmann::json& content, const std::string& path,
                           const std::vector<std::string>& types = {"text"});
// Optional fields (null counts as absent): a number; a positive integer, capped at 2^30.
Result<std::optional<double>> OptionalNumber(const nlohmann::json& body, const char* key);
Result<std::optional<int>> OptionalPositiveInt(const nlohmann::json& body, const char* key);

// Whether a block or part carries Anthropic's cache_control (OpenAI-dialect proxies accept it on content
// parts too), and whether any part of an array of them does.
bool CacheControl(const nlohmann::json& part);
bool AnyCacheControl(const nlohmann::json& content);

// The conversation walk: each API reads its turns (messages, items) in its own shape, and hands them here,
// which builds the conversation every API's turns make.
//
// System text (a system or developer message, `instructions`): joins earlier system text with a blank line.
void AddSystem(ChatRequest& request, const std::string& text, bool cache = false);
// A turn's blocks: they join the last message when it has the same role, as every API allows runs of one
// role and Anthropic requires the tool results of one turn to share one user message.
void AddBlocks(ChatRequest& request, Role role, std::vector<Block> blocks);
// A tool call whose arguments arrive as a JSON string (OpenAI's APIs); arguments that are not a JSON
// object are kept as the string, so that the agent sees what the model wrote.
Block ToolCallWithArguments(const std::string& id, const std::string& name, const std::string& arguments);

// --- Reading responses back -------------------------------------------------------------------------

// A recorded response's JSON text, read by `parse` (ApiCodec::ReadResponse); InvalidArgument when it is not
// JSON.
Result<ChatResponse> ReadRecorded(const std::string& recorded, Result<ChatResponse> (*parse)(const nlohmann::json&));

// --- Writing streams ----------------------------------------------------------------------------------

// One server-sent event: "event: TYPE\n" when `event` is not empty, then "data: JSON\n\n".
std::string Sse(const std::string& event, const nlohmann::json& data);

// The bookkeeping every API's stream shares: when the answer starts, and which block (a text, a tool
// call) is open. An API's encoder says what each step writes: Start() once, Open() and Close() around each
// block, Delta() for each piece of the open block's text or arguments, End() when every block is closed.
class BlockStreamEncoder : public StreamEncoder {
 public:
  std::string Piece(const StreamDelta& delta) final;
  std::string Finish(const ChatResponse& whole) final;
  bool started() const final { return started_; }

 protected:
  virtual std::string Start() = 0;                                    // id(), model(), start_usage() are set
  virtual std::string Open(const StreamDelta& delta) = 0;             // a kText or kToolCall piece
  virtual std::string Delta(bool text, const std::string& piece) = 0;  // never empty
  virtual std::string Close(bool text) = 0;
  virtual std::string End(const ChatResponse& whole) = 0;
  // Whether text goes on in an open text block whatever block its piece is of (the Responses API joins
  // every text into one message item, as its whole form does).
  virtual bool JoinsText() const { return false; }

  // Closes the open block, if any.
  std::string CloseOpen();
  const std::string& id() const { return id_; }
  const std::string& model() const { return model_; }
  const Usage& start_usage() const { return start_usage_; }

 private:
  bool started_ = false;
  std::string id_, model_;
  Usage start_usage_;
  int open_block_ = -1;  // the open block's StreamDelta::block; -1: none
  bool open_is_text_ = false;
};

}  // namespace lineage::llm::codec
