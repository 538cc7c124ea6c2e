// The OrderedDict rewrite of train/torch_save_reader.h on hand-made protocol-2 pickles (the
// python_roundtrip test reads real torchvision state_dicts through it).
#include <gtest/gtest.h>

#include "train/torch_save_reader.h"

namespace rt {
namespace {

using namespace std::string_literals;

// OrderedDict(a=1) with the state {"_metadata": OrderedDict()}, as torch.save writes a state_dict.
const std::string kOrderedDict =
    "\x80\x02"                          // PROTO 2
    "ccollections\nOrderedDict\nq\x00"  // GLOBAL, BINPUT 0
    ")Rq\x01"                           // EMPTY_TUPLE, REDUCE, BINPUT 1
    "X\x01\x00\x00\x00"
    "aK\x01s"                           // 'a' -> 1, SETITEM
    "}q\x02X\x09\x00\x00\x00_metadata"  // the state: {'_metadata': ...
    "h\x00)Rq\x03s"                     //   OrderedDict() through the memoized class}
    "b."s;                              // BUILD, STOP

TEST(TorchSaveReader, AnOrderedDictBecomesAPlainDictWithoutItsState) {
  const auto plain = ordered_dicts_as_dicts(kOrderedDict);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain,
            "\x80\x02}q\x00q\x01X\x01\x00\x00\x00"
            "aK\x01s."s);
}

TEST(TorchSaveReader, WhatItCannotRewriteIsLeftAlone) {
  EXPECT_FALSE(ordered_dicts_as_dicts("\x80\x02}q\x00."s).has_value());  // no OrderedDict: nothing to do
  // A BINUNICODE8 whose length would wrap around: refused at once, not looped over.
  EXPECT_FALSE(ordered_dicts_as_dicts("\x80\x02\x8d\xf7\xff\xff\xff\xff\xff\xff\xff"
                                      "abc."s)
                   .has_value());
  EXPECT_FALSE(ordered_dicts_as_dicts(kOrderedDict.substr(0, 40)).has_value());  // cut short
  std::string pop_mark = kOrderedDict;
  pop_mark.insert(pop_mark.size() - 2, "(1");  // MARK, POP_MARK: a stack effect it does not model
  EXPECT_FALSE(ordered_dicts_as_dicts(pop_mark).has_value());
  EXPECT_FALSE(ordered_dicts_as_dicts("\x80\x04\x95"s).has_value());  // protocol 4's FRAME
}

}  // namespace
}  // namespace rt
