#pragma once

#include <cstddef>
#include <stdexcept>

class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity);
  void push(int value);
  int pop();
  std::size_t size() const;
  std::size_t capacity() const;
};
