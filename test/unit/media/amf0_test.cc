#include "tutti/media/amf0.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

using tutti::media::amf0::decodeAll;
using tutti::media::amf0::Decoder;
using tutti::media::amf0::DecodeLimits;
using tutti::media::amf0::encode;
using tutti::media::amf0::Property;
using tutti::media::amf0::Type;
using tutti::media::amf0::Value;

namespace {

std::string bytesOf(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

Value roundTrip(const Value& v) {
  const std::string wire = encode(v);
  auto back = decodeAll(wire);
  EXPECT_TRUE(back.ok()) << (back.ok() ? "" : back.error().message);
  if (!back.ok() || back->size() != 1) return Value::undefined();
  return (*back)[0];
}

// An object nested `depth` levels below the top value.
Value nested(size_t depth) {
  Value v = Value::number(1);
  for (size_t i = 0; i < depth; ++i) v = Value::object({{"k", v}});
  return v;
}

}  // namespace

TEST(Amf0, RoundTripsEveryScalarType) {
  for (double d : {0.0, -0.0, 1.5, -2.25e300, 4096.0, std::numeric_limits<double>::infinity()}) {
    Value v = Value::number(d);
    EXPECT_EQ(roundTrip(v), v) << d;
  }
  Value nan = Value::number(std::nan(""));
  EXPECT_TRUE(std::isnan(roundTrip(nan).asNumber()));
  EXPECT_EQ(roundTrip(Value::boolean(true)), Value::boolean(true));
  EXPECT_EQ(roundTrip(Value::boolean(false)), Value::boolean(false));
  EXPECT_EQ(roundTrip(Value::string("")), Value::string(""));
  EXPECT_EQ(roundTrip(Value::string("NetConnection.Connect.Success")), Value::string("NetConnection.Connect.Success"));
  EXPECT_EQ(roundTrip(Value::longString("long form")), Value::longString("long form"));
  EXPECT_EQ(roundTrip(Value::null()), Value::null());
  EXPECT_EQ(roundTrip(Value::undefined()), Value::undefined());
}

TEST(Amf0, RoundTripsObjectsArraysAndTheirNesting) {
  Value inner = Value::ecmaArray({{"width", Value::number(1280)}, {"stereo", Value::boolean(true)}});
  Value list = Value::strictArray({Value::number(1), Value::string("two"), Value::null(), inner});
  Value obj = Value::object({{"app", Value::string("live")}, {"list", list}, {"empty", Value::object()},
                             {"u", Value::undefined()}, {"ecma", Value::ecmaArray()}});
  Value back = roundTrip(obj);
  EXPECT_EQ(back, obj);
  EXPECT_EQ(back.type(), Type::kObject);
  EXPECT_EQ(back.find("list")->items().size(), 4u);
  EXPECT_EQ(back.find("list")->items()[3].find("width")->asNumber(), 1280);
  EXPECT_EQ(roundTrip(Value::strictArray()), Value::strictArray());
}

TEST(Amf0, EncodesTheBytesTheSpecificationGives) {
  EXPECT_EQ(encode(Value::number(1.0)), bytesOf({0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(encode(Value::boolean(true)), bytesOf({0x01, 0x01}));
  EXPECT_EQ(encode(Value::string("ab")), bytesOf({0x02, 0x00, 0x02, 'a', 'b'}));
  EXPECT_EQ(encode(Value::longString("ab")), bytesOf({0x0C, 0, 0, 0, 2, 'a', 'b'}));
  EXPECT_EQ(encode(Value::null()), bytesOf({0x05}));
  EXPECT_EQ(encode(Value::undefined()), bytesOf({0x06}));
  EXPECT_EQ(encode(Value::object({{"a", Value::null()}})), bytesOf({0x03, 0x00, 0x01, 'a', 0x05, 0x00, 0x00, 0x09}));
  EXPECT_EQ(encode(Value::ecmaArray({{"a", Value::null()}})),
            bytesOf({0x08, 0, 0, 0, 1, 0x00, 0x01, 'a', 0x05, 0x00, 0x00, 0x09}));
  EXPECT_EQ(encode(Value::strictArray({Value::null(), Value::undefined()})), bytesOf({0x0A, 0, 0, 0, 2, 0x05, 0x06}));
}

TEST(Amf0, WritesAStringAbove65535BytesAsALongString) {
  Value v = Value::string(std::string(70000, 'x'));
  const std::string wire = encode(v);
  EXPECT_EQ(static_cast<uint8_t>(wire[0]), 0x0C);
  auto back = decodeAll(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].asString().size(), 70000u);
  EXPECT_EQ((*back)[0].type(), Type::kLongString);
}

TEST(Amf0, DecodesACommandAsASequenceOfValues) {
  std::string wire;
  encode(wire, Value::string("publish"));
  encode(wire, Value::number(5));
  encode(wire, Value::null());
  encode(wire, Value::string("testkey"));
  encode(wire, Value::string("live"));
  auto v = decodeAll(wire);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 5u);
  EXPECT_EQ((*v)[0].asString(), "publish");
  EXPECT_EQ((*v)[1].asNumber(), 5);
  EXPECT_TRUE((*v)[2].isNull());
  EXPECT_EQ((*v)[3].asString(), "testkey");

  Decoder d(wire);
  auto first = d.next();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(d.offset(), 10u);  // marker + u16 length + 7 bytes
}

TEST(Amf0, IgnoresTheAdvisoryCountOfAnEcmaArray) {
  // Count says 7, one property follows, then the end marker.
  auto v = decodeAll(bytesOf({0x08, 0, 0, 0, 7, 0x00, 0x01, 'w', 0x00, 0x40, 0x59, 0, 0, 0, 0, 0, 0, 0, 0, 0x09}));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ((*v)[0].find("w")->asNumber(), 100);
}

TEST(Amf0, AccessorsOfTheWrongKindAnswerNeutrally) {
  Value n = Value::number(3);
  EXPECT_EQ(n.asString(), "");
  EXPECT_FALSE(n.asBoolean());
  EXPECT_EQ(n.find("x"), nullptr);
  EXPECT_TRUE(n.properties().empty());
  EXPECT_EQ(Value::string("3").asNumber(), 0);
  Value o = Value::object({{"k", Value::number(1)}, {"k", Value::number(2)}});
  EXPECT_EQ(o.find("k")->asNumber(), 1);  // the first of repeated keys
  o.set("z", Value::boolean(true));
  EXPECT_TRUE(o.find("z")->asBoolean());
}

TEST(Amf0, RefusesEveryTruncationOfAValue) {
  Value obj = Value::object({{"app", Value::string("live")},
                             {"n", Value::number(2)},
                             {"arr", Value::strictArray({Value::boolean(true), Value::longString("abc")})},
                             {"e", Value::ecmaArray({{"x", Value::null()}})}});
  const std::string wire = encode(obj);
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    auto v = decodeAll(std::string_view(wire).substr(0, cut));
    EXPECT_FALSE(v.ok()) << "a prefix of " << cut << " bytes decoded";
  }
  EXPECT_TRUE(decodeAll(wire).ok());
}

TEST(Amf0, RefusesUnsupportedAndUnknownMarkers) {
  for (int marker : {0x04 /* movie clip */, 0x07 /* reference */, 0x0B /* date */, 0x0D /* unsupported */,
                     0x0F /* XML */, 0x10 /* typed object */, 0x11 /* AMF3 switch */, 0x42, 0xFF}) {
    auto v = decodeAll(bytesOf({marker, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    ASSERT_FALSE(v.ok()) << marker;
    EXPECT_NE(v.error().message.find("marker"), std::string::npos) << v.error().message;
  }
}

TEST(Amf0, RefusesAnObjectEndOutsideAnObject) {
  EXPECT_FALSE(decodeAll(bytesOf({0x09})).ok());
  // An empty key must be followed by the end marker.
  EXPECT_FALSE(decodeAll(bytesOf({0x03, 0x00, 0x00, 0x05})).ok());
}

TEST(Amf0, RefusesNestingDeeperThanTheLimit) {
  DecodeLimits limits;
  limits.max_depth = 8;
  EXPECT_TRUE(decodeAll(encode(nested(8)), limits).ok());
  auto deep = decodeAll(encode(nested(9)), limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("deeper"), std::string::npos);
  // A hostile run of object markers is refused at the default limit without recursing further.
  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += bytesOf({0x0A, 0, 0, 0, 1});
  EXPECT_FALSE(decodeAll(bomb).ok());
}

TEST(Amf0, RefusesHugeDeclaredLengthsWithoutAllocatingThem) {
  const auto start = std::chrono::steady_clock::now();
  // Long string of 4 GiB - 1 with three bytes present.
  auto s = decodeAll(bytesOf({0x0C, 0xFF, 0xFF, 0xFF, 0xFF, 'a', 'b', 'c'}));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("past the end"), std::string::npos);
  // Strict array of 4 G items with one present.
  auto a = decodeAll(bytesOf({0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05}));
  ASSERT_FALSE(a.ok());
  // Short string longer than what follows.
  EXPECT_FALSE(decodeAll(bytesOf({0x02, 0xFF, 0xFF, 'a'})).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST(Amf0, RefusesMoreValuesThanTheLimit) {
  DecodeLimits limits;
  limits.max_values = 100;
  std::vector<Value> items(99, Value::null());
  EXPECT_TRUE(decodeAll(encode(Value::strictArray(items)), limits).ok());  // 99 + the array = 100
  items.push_back(Value::null());
  EXPECT_FALSE(decodeAll(encode(Value::strictArray(items)), limits).ok());
  // The limit covers a whole decodeAll, not one value.
  std::string many;
  for (int i = 0; i < 101; ++i) encode(many, Value::null());
  EXPECT_FALSE(decodeAll(many, limits).ok());
}

TEST(Amf0, ADecoderPastTheEndSaysSo) {
  Decoder d("");
  EXPECT_TRUE(d.atEnd());
  EXPECT_FALSE(d.next().ok());
}
