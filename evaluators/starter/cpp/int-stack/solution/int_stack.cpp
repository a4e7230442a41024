#include "int_stack.h"

void IntStack::push(int value) { items_.push_back(value); }

int IntStack::pop() {
  int value = top();
  items_.pop_back();
  return value;
}

int IntStack::top() const {
  if (items_.empty()) throw std::out_of_range("empty stack");
  return items_.back();
}

bool IntStack::empty() const { return items_.empty(); }
std::size_t IntStack::size() const { return items_.size(); }
