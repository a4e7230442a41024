#include "int_stack.h"

void IntStack::push(int) {}
int IntStack::pop() { return 0; }
int IntStack::top() const { return 0; }
bool IntStack::empty() const { return true; }
std::size_t IntStack::size() const { return 0; }
