#include "ring_buffer.h"

RingBuffer::RingBuffer(std::size_t capacity) : data_(capacity) {
  if (capacity == 0) throw std::invalid_argument("capacity must be positive");
}

void RingBuffer::push(int value) {
  data_[(head_ + size_) % data_.size()] = value;
  if (size_ == data_.size()) head_ = (head_ + 1) % data_.size();
  else ++size_;
}

int RingBuffer::pop() {
  if (size_ == 0) throw std::out_of_range("empty buffer");
  int value = data_[head_];
  head_ = (head_ + 1) % data_.size();
  --size_;
  return value;
}

std::size_t RingBuffer::size() const { return size_; }
std::size_t RingBuffer::capacity() const { return data_.size(); }
