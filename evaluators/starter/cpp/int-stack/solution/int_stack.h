#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

class IntStack {
 public:
  void push(int value);
  int pop();
  int top() const;
  bool empty() const;
  std::size_t size() const;

 private:
  std::vector<int> items_;
};
