#include "ring_buffer.h"
#include "check.h"

TEST(fifo) {
  RingBuffer b(3);
  b.push(1);
  b.push(2);
  CHECK(b.size() == 2);
  CHECK(b.pop() == 1);
  CHECK(b.pop() == 2);
  CHECK(b.size() == 0);
}
TEST(overwrites_oldest) {
  RingBuffer b(2);
  b.push(1);
  b.push(2);
  b.push(3);
  CHECK(b.size() == 2);
  CHECK(b.capacity() == 2);
  CHECK(b.pop() == 2);
  CHECK(b.pop() == 3);
}
TEST(wraps_around) {
  RingBuffer b(2);
  for (int i = 0; i < 10; ++i) {
    b.push(i);
    CHECK(b.pop() == i);
  }
}
TEST(errors) {
  CHECK_THROWS(RingBuffer(0), std::invalid_argument);
  RingBuffer b(1);
  CHECK_THROWS(b.pop(), std::out_of_range);
}
