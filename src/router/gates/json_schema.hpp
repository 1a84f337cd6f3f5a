// Validation of a JSON value against a JSON Schema, in the subset OpenAI's structured outputs
// accept in strict mode: type (one or a list), properties, required, additionalProperties
// (false or a schema), items, enum, const, anyOf, $ref into $defs or definitions ("#/$defs/x"),
// the bounds minLength and maxLength (in characters), minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, multipleOf, minItems and maxItems, and pattern (RE2: a pattern RE2 does not
// take, with lookaround or backreferences, is not checked). `format` is not checked. Recursion
// is bounded (a $ref cycle or a deep value fails, never overflows).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace switchyard {

// Whether `value` conforms to `schema`, whose root holds any $defs. On failure `why` says where
// ("$.items[2].name: expected a string"). The schema may be a hostile client's: the work is
// bounded (depth 64; 100,000 schema nodes visited, fewer when long enums are scanned), and a
// check that reaches a bound fails and says so.
bool conforms(const nlohmann::json& value, const nlohmann::json& schema, std::string& why);

}  // namespace switchyard
