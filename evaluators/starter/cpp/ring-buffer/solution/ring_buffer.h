#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity);
  void push(int value);
  int pop();
  std::size_t size() const;
  std::size_t capacity() const;

 private:
  std::vector<int> data_;
  std::size_t head_ = 0, size_ = 0;
};
