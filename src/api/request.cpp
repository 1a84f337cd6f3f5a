#include "api/request.hpp"

namespace switchyard {

Result<ApiRequest> parse_api_request(Endpoint endpoint, const std::string& body) {
  ApiRequest r;
  r.endpoint = endpoint;
  r.body = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (r.body.is_discarded())
    return make_error(Reason::bad_request,
                      "We could not parse the JSON body of your request. The body must be valid "
                      "JSON.");
  if (!r.body.is_object())
    return make_error(Reason::bad_request, "The request body must be a JSON object.");
  auto model = r.body.find("model");
  if (model == r.body.end() || !model->is_string() || model->get_ref<const std::string&>().empty())
    return make_error(Reason::bad_request, "you must provide a model parameter", "model");
  r.model = model->get<std::string>();

  const char* input = endpoint == Endpoint::chat_completions ? "messages"
                      : endpoint == Endpoint::completions    ? "prompt"
                                                             : "input";
  auto in = r.body.find(input);
  if (in == r.body.end() || in->is_null())
    return make_error(Reason::bad_request, std::string("Missing required parameter: '") + input +
                                               "'.",
                      input);
  if (endpoint == Endpoint::chat_completions && (!in->is_array() || in->empty()))
    return make_error(Reason::bad_request, "'messages' must be a non-empty array.", "messages");

  if (auto s = r.body.find("stream"); s != r.body.end() && !s->is_null()) {
    if (!s->is_boolean())
      return make_error(Reason::bad_request, "'stream' must be a boolean.", "stream");
    r.stream = s->get<bool>();
  }
  if (r.stream && endpoint == Endpoint::embeddings)
    return make_error(Reason::bad_request, "Embeddings do not support streaming.", "stream");
  if (auto so = r.body.find("stream_options"); so != r.body.end() && !so->is_null()) {
    if (!so->is_object())
      return make_error(Reason::bad_request, "'stream_options' must be an object.",
                        "stream_options");
    if (!r.stream)
      return make_error(Reason::bad_request,
                        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                        "stream_options");
    if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean())
        return make_error(Reason::bad_request, "'include_usage' must be a boolean.",
                          "stream_options.include_usage");
      r.include_usage = iu->get<bool>();
    }
  }
  return r;
}

}  // namespace switchyard
