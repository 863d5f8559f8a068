#pragma once
// AMF0 (Adobe's Action Message Format, version 0): the encoding of RTMP
// command and data messages (connect, publish, onStatus, onMetaData).
//
// Supported: number, boolean, string, long string, object, null, undefined,
// ECMA array, strict array, and the object-end marker that closes objects and
// ECMA arrays. Everything else (movie clip, reference, date, XML, typed
// object, the AMF3 switch, ...) is refused with an error: RTMP ingest clients
// do not send them in the messages we read.
//
// The decoder takes untrusted bytes: it never reads out of bounds, never
// allocates from a declared length before checking it against the bytes that
// remain, bounds nesting depth and the total number of values, and reports
// every failure as an Error value. Thread: none of this has state beyond the
// objects themselves; use from any one thread at a time.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::media::amf0 {

// The type markers, as on the wire.
enum class Type : uint8_t {
  kNumber = 0x00,
  kBoolean = 0x01,
  kString = 0x02,
  kObject = 0x03,
  kNull = 0x05,
  kUndefined = 0x06,
  kEcmaArray = 0x08,
  kObjectEnd = 0x09,  // only ever closes an object or ECMA array; never a Value
  kStrictArray = 0x0A,
  kLongString = 0x0C,
};

struct Property;

// One AMF0 value. A tree: objects and ECMA arrays hold ordered properties
// (keys may repeat on the wire; find() returns the first), strict arrays hold
// values. The accessors are total: asking a value for the wrong kind returns
// a neutral answer (0, false, "", empty, nullptr) instead of failing, so that
// command handlers can read optional fields without a check per step.
class Value {
 public:
  Value() = default;  // null

  static Value number(double v);
  static Value boolean(bool v);
  static Value string(std::string v);      // encoded as a long string above 65535 bytes
  static Value longString(std::string v);  // always encoded as a long string
  static Value null();
  static Value undefined();
  // (Overloads rather than default arguments: Property is incomplete here.)
  static Value object();
  static Value object(std::vector<Property> props);
  static Value ecmaArray();
  static Value ecmaArray(std::vector<Property> props);
  static Value strictArray();
  static Value strictArray(std::vector<Value> items);

  Type type() const { return type_; }
  bool isNumber() const { return type_ == Type::kNumber; }
  bool isBoolean() const { return type_ == Type::kBoolean; }
  // String or long string.
  bool isString() const { return type_ == Type::kString || type_ == Type::kLongString; }
  bool isNull() const { return type_ == Type::kNull; }
  bool isUndefined() const { return type_ == Type::kUndefined; }
  // Object or ECMA array: both are key/value maps.
  bool isMap() const { return type_ == Type::kObject || type_ == Type::kEcmaArray; }
  bool isStrictArray() const { return type_ == Type::kStrictArray; }

  double asNumber() const { return isNumber() ? number_ : 0.0; }
  bool asBoolean() const { return isBoolean() && boolean_; }
  // Empty unless a string.
  std::string_view asString() const { return isString() ? std::string_view(string_) : std::string_view(); }
  // Empty unless a map.
  const std::vector<Property>& properties() const;
  // Empty unless a strict array.
  const std::vector<Value>& items() const { return items_; }

  // The first property named key of a map; nullptr if absent or not a map.
  const Value* find(std::string_view key) const;
  // Appends a property (maps only; ignored otherwise). Returns *this.
  Value& set(std::string key, Value v);

  // Deep equality, including the type (a string is not equal to the same
  // text as a long string).
  bool operator==(const Value& o) const;

 private:
  Type type_ = Type::kNull;
  bool boolean_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Property> props_;
  std::vector<Value> items_;
};

struct Property {
  std::string key;
  Value value;
  bool operator==(const Property& o) const { return key == o.key && value == o.value; }
};

// Bounds on what one decode may build. A command message is at most a few
// hundred bytes and onMetaData a few KiB; these leave room for odd encoders
// while keeping a hostile message from costing more than about a megabyte.
struct DecodeLimits {
  // Objects/arrays nested deeper than this are refused (recursion bound).
  size_t max_depth = 16;
  // Values in total, counting containers and their members, per decode call.
  size_t max_values = 8192;
};

// Reads values one after the other from a byte range it does not own.
class Decoder {
 public:
  explicit Decoder(std::string_view in, DecodeLimits limits = {}) : in_(in), limits_(limits) {}

  bool atEnd() const { return pos_ >= in_.size(); }
  // Bytes consumed so far.
  size_t offset() const { return pos_; }
  // The next value. On an error the decoder's position is unspecified; stop.
  Result<Value> next();

 private:
  Result<Value> value(size_t depth);
  Result<std::vector<Property>> properties(size_t depth);
  Result<std::string> shortString();
  bool take(size_t n) { return in_.size() - pos_ >= n; }

  std::string_view in_;
  size_t pos_ = 0;
  size_t values_ = 0;
  DecodeLimits limits_;
};

// Every value in `in`, in order (a command: name, transaction id, ...).
Result<std::vector<Value>> decodeAll(std::string_view in, DecodeLimits limits = {});

// Appends the encoding of v. Never fails: a string too long for its form is
// written as a long string; a long string above 4 GiB cannot exist here.
void encode(std::string& out, const Value& v);
std::string encode(const Value& v);

}  // namespace tutti::media::amf0
