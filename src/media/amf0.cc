#include "tutti/media/amf0.h"

#include <bit>
#include <cstring>
#include <utility>

#include "tutti/protocol/codes.h"

namespace tutti::media::amf0 {

namespace {

Error bad(std::string what) { return makeError(code::kBadRequest, "amf0: " + std::move(what)); }

const std::vector<Property>& emptyProperties() {
  static const std::vector<Property> kEmpty;
  return kEmpty;
}

void putU16(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

void putU32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

// A property key or a short string's text: u16 length, bytes.
void putShortText(std::string& out, std::string_view s) {
  putU16(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

void putProperties(std::string& out, const std::vector<Property>& props) {
  for (const Property& p : props) {
    // A key longer than 65535 bytes cannot be written; cut it rather than
    // emit a length that disagrees with the bytes.
    putShortText(out, std::string_view(p.key).substr(0, 0xFFFF));
    encode(out, p.value);
  }
  putU16(out, 0);
  out.push_back(static_cast<char>(Type::kObjectEnd));
}

}  // namespace

Value Value::number(double v) {
  Value r;
  r.type_ = Type::kNumber;
  r.number_ = v;
  return r;
}

Value Value::boolean(bool v) {
  Value r;
  r.type_ = Type::kBoolean;
  r.boolean_ = v;
  return r;
}

Value Value::string(std::string v) {
  Value r;
  r.type_ = Type::kString;
  r.string_ = std::move(v);
  return r;
}

Value Value::longString(std::string v) {
  Value r;
  r.type_ = Type::kLongString;
  r.string_ = std::move(v);
  return r;
}

Value Value::null() { return Value(); }

Value Value::undefined() {
  Value r;
  r.type_ = Type::kUndefined;
  return r;
}

Value Value::object() { return object(std::vector<Property>{}); }
Value Value::ecmaArray() { return ecmaArray(std::vector<Property>{}); }
Value Value::strictArray() { return strictArray(std::vector<Value>{}); }

Value Value::object(std::vector<Property> props) {
  Value r;
  r.type_ = Type::kObject;
  r.props_ = std::move(props);
  return r;
}

Value Value::ecmaArray(std::vector<Property> props) {
  Value r;
  r.type_ = Type::kEcmaArray;
  r.props_ = std::move(props);
  return r;
}

Value Value::strictArray(std::vector<Value> items) {
  Value r;
  r.type_ = Type::kStrictArray;
  r.items_ = std::move(items);
  return r;
}

const std::vector<Property>& Value::properties() const { return isMap() ? props_ : emptyProperties(); }

const Value* Value::find(std::string_view key) const {
  if (!isMap()) return nullptr;
  for (const Property& p : props_)
    if (p.key == key) return &p.value;
  return nullptr;
}

Value& Value::set(std::string key, Value v) {
  if (isMap()) props_.push_back(Property{std::move(key), std::move(v)});
  return *this;
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::kNumber:
      // Bitwise, so that NaN round trips compare equal and -0 differs from 0.
      return std::bit_cast<uint64_t>(number_) == std::bit_cast<uint64_t>(o.number_);
    case Type::kBoolean:
      return boolean_ == o.boolean_;
    case Type::kString:
    case Type::kLongString:
      return string_ == o.string_;
    case Type::kObject:
    case Type::kEcmaArray:
      return props_ == o.props_;
    case Type::kStrictArray:
      return items_ == o.items_;
    default:
      return true;
  }
}

// --- decoding

Result<Value> Decoder::next() {
  if (atEnd()) return bad("no value left");
  return value(0);
}

Result<std::string> Decoder::shortString() {
  if (!take(2)) return bad("truncated string length");
  const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + pos_);
  const size_t n = (size_t{p[0]} << 8) | p[1];
  pos_ += 2;
  if (!take(n)) return bad("string of " + std::to_string(n) + " bytes runs past the end");
  std::string s(in_.substr(pos_, n));
  pos_ += n;
  return s;
}

// Properties up to and including the empty key + object-end marker.
Result<std::vector<Property>> Decoder::properties(size_t depth) {
  std::vector<Property> props;
  for (;;) {
    auto key = shortString();
    if (!key) return key.error();
    if (key->empty()) {
      if (!take(1)) return bad("truncated object: no end marker");
      if (static_cast<uint8_t>(in_[pos_]) != static_cast<uint8_t>(Type::kObjectEnd))
        return bad("empty property key not followed by the object-end marker");
      ++pos_;
      return props;
    }
    auto v = value(depth + 1);
    if (!v) return v.error();
    props.push_back(Property{std::move(*key), std::move(*v)});
  }
}

Result<Value> Decoder::value(size_t depth) {
  if (depth > limits_.max_depth) return bad("nested deeper than " + std::to_string(limits_.max_depth));
  if (++values_ > limits_.max_values) return bad("more than " + std::to_string(limits_.max_values) + " values");
  if (!take(1)) return bad("truncated: no type marker");
  const auto marker = static_cast<uint8_t>(in_[pos_++]);
  const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + pos_);
  switch (static_cast<Type>(marker)) {
    case Type::kNumber: {
      if (!take(8)) return bad("truncated number");
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
      pos_ += 8;
      return Value::number(std::bit_cast<double>(bits));
    }
    case Type::kBoolean:
      if (!take(1)) return bad("truncated boolean");
      ++pos_;
      return Value::boolean(p[0] != 0);
    case Type::kString: {
      auto s = shortString();
      if (!s) return s.error();
      return Value::string(std::move(*s));
    }
    case Type::kLongString: {
      if (!take(4)) return bad("truncated long string length");
      const uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
      pos_ += 4;
      // Checked against what remains before anything is allocated.
      if (!take(n)) return bad("long string of " + std::to_string(n) + " bytes runs past the end");
      std::string s(in_.substr(pos_, n));
      pos_ += n;
      return Value::longString(std::move(s));
    }
    case Type::kObject: {
      auto props = properties(depth);
      if (!props) return props.error();
      return Value::object(std::move(*props));
    }
    case Type::kEcmaArray: {
      // The count is advisory (encoders get it wrong); the end marker rules.
      if (!take(4)) return bad("truncated ECMA array count");
      pos_ += 4;
      auto props = properties(depth);
      if (!props) return props.error();
      return Value::ecmaArray(std::move(*props));
    }
    case Type::kStrictArray: {
      if (!take(4)) return bad("truncated strict array count");
      const uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
      pos_ += 4;
      // Every item takes at least one byte: a count above what remains is a
      // lie, and is refused before it can size anything.
      if (n > in_.size() - pos_) return bad("strict array of " + std::to_string(n) + " items runs past the end");
      if (n > limits_.max_values) return bad("strict array of " + std::to_string(n) + " items is above the limit");
      std::vector<Value> items;
      items.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        auto v = value(depth + 1);
        if (!v) return v.error();
        items.push_back(std::move(*v));
      }
      return Value::strictArray(std::move(items));
    }
    case Type::kNull:
      return Value::null();
    case Type::kUndefined:
      return Value::undefined();
    case Type::kObjectEnd:
      return bad("object-end marker outside an object");
    default:
      return bad("unsupported type marker " + std::to_string(marker));
  }
}

Result<std::vector<Value>> decodeAll(std::string_view in, DecodeLimits limits) {
  Decoder d(in, limits);
  std::vector<Value> out;
  while (!d.atEnd()) {
    auto v = d.next();
    if (!v) return v.error();
    out.push_back(std::move(*v));
  }
  return out;
}

// --- encoding

void encode(std::string& out, const Value& v) {
  switch (v.type()) {
    case Type::kNumber: {
      out.push_back(static_cast<char>(Type::kNumber));
      const auto bits = std::bit_cast<uint64_t>(v.asNumber());
      for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((bits >> s) & 0xFF));
      return;
    }
    case Type::kBoolean:
      out.push_back(static_cast<char>(Type::kBoolean));
      out.push_back(v.asBoolean() ? 1 : 0);
      return;
    case Type::kString:
    case Type::kLongString: {
      const std::string_view s = v.asString();
      if (v.type() == Type::kString && s.size() <= 0xFFFF) {
        out.push_back(static_cast<char>(Type::kString));
        putShortText(out, s);
      } else {
        out.push_back(static_cast<char>(Type::kLongString));
        putU32(out, static_cast<uint32_t>(s.size()));
        out.append(s);
      }
      return;
    }
    case Type::kObject:
      out.push_back(static_cast<char>(Type::kObject));
      putProperties(out, v.properties());
      return;
    case Type::kEcmaArray:
      out.push_back(static_cast<char>(Type::kEcmaArray));
      putU32(out, static_cast<uint32_t>(v.properties().size()));
      putProperties(out, v.properties());
      return;
    case Type::kStrictArray:
      out.push_back(static_cast<char>(Type::kStrictArray));
      putU32(out, static_cast<uint32_t>(v.items().size()));
      for (const Value& item : v.items()) encode(out, item);
      return;
    case Type::kUndefined:
      out.push_back(static_cast<char>(Type::kUndefined));
      return;
    case Type::kNull:
    case Type::kObjectEnd:  // not constructible as a Value
      out.push_back(static_cast<char>(Type::kNull));
      return;
  }
}

std::string encode(const Value& v) {
  std::string out;
  encode(out, v);
  return out;
}

}  // namespace tutti::media::amf0
