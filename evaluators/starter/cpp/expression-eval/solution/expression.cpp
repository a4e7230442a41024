#include "expression.h"

#include <cctype>

namespace {

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  long long Parse() {
    long long v = Sum();
    Skip();
    if (pos_ != s_.size()) throw std::invalid_argument("unexpected text");
    return v;
  }

 private:
  void Skip() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  long long Sum() {
    long long v = Product();
    for (;;) {
      if (Eat('+')) v += Product();
      else if (Eat('-')) v -= Product();
      else return v;
    }
  }
  long long Product() {
    long long v = Unary();
    for (;;) {
      if (Eat('*')) {
        v *= Unary();
      } else if (Eat('/')) {
        long long d = Unary();
        if (d == 0) throw std::invalid_argument("division by zero");
        v /= d;
      } else {
        return v;
      }
    }
  }
  long long Unary() {
    if (Eat('-')) return -Unary();
    if (Eat('(')) {
      long long v = Sum();
      if (!Eat(')')) throw std::invalid_argument("missing )");
      return v;
    }
    Skip();
    size_t start = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    if (start == pos_) throw std::invalid_argument("expected a number");
    return std::stoll(s_.substr(start, pos_ - start));
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

long long evaluate(const std::string& expression) { return Parser(expression).Parse(); }
