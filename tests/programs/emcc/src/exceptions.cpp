// C++ exceptions (em++ -fexceptions): types, hierarchies, rethrow,
// catch(...), destructors during unwinding, nested try, exceptions through
// function pointers and std library exceptions.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct Tracker {
  std::string name;
  explicit Tracker(std::string n) : name(std::move(n)) { std::printf("ctor %s\n", name.c_str()); }
  ~Tracker() { std::printf("dtor %s\n", name.c_str()); }
};

struct Base { virtual ~Base() = default; virtual const char *what() const { return "Base"; } };
struct Derived : Base { int code; explicit Derived(int c) : code(c) {} const char *what() const override { return "Derived"; } };

static void thrower(int kind) {
  Tracker t("in thrower " + std::to_string(kind));
  switch (kind) {
    case 0: throw 42;
    case 1: throw std::string("a string");
    case 2: throw Derived(7);
    case 3: throw std::runtime_error("runtime error");
    case 4: throw 2.5;
    case 5: { std::vector<int> v(3); (void)v.at(10); break; }
    default: break;
  }
  std::printf("no throw for %d\n", kind);
}

static int (*volatile op)(int) = [](int x) -> int { if (x < 0) throw std::invalid_argument("negative"); return x * 2; };

int main() {
  for (int k = 0; k <= 6; k++) {
    try {
      thrower(k);
    } catch (int i) {
      std::printf("caught int %d\n", i);
    } catch (const std::string &s) {
      std::printf("caught string %s\n", s.c_str());
    } catch (const Base &b) {
      std::printf("caught %s via Base\n", b.what());
    } catch (const std::out_of_range &) {
      // (what() differs between libc++ and libstdc++.)
      std::printf("caught std::out_of_range\n");
    } catch (const std::exception &e) {
      std::printf("caught std::exception: %s\n", e.what());
    } catch (...) {
      std::printf("caught something else\n");
    }
  }
  try {
    try {
      Tracker t("outer");
      throw Derived(3);
    } catch (Derived &d) {
      std::printf("inner caught code %d, rethrowing\n", d.code);
      d.code = 4;
      throw;
    }
  } catch (const Derived &d) {
    std::printf("outer caught code %d\n", d.code);
  }
  int sum = 0;
  for (int i = -2; i <= 2; i++) {
    try { sum += op(i); } catch (const std::invalid_argument &e) { std::printf("op(%d): %s\n", i, e.what()); }
  }
  std::printf("sum %d\n", sum);
  try {
    auto p = std::make_unique<Tracker>("heap");
    throw std::logic_error("with unique_ptr");
  } catch (const std::logic_error &e) {
    std::printf("caught %s\n", e.what());
  }
  int caught = 0;
  for (int i = 0; i < 1000; i++) {
    try { if (i % 7 == 0) throw i; } catch (int v) { caught += v; }
  }
  std::printf("caught total %d\n", caught);
  std::exception_ptr ep;
  try { throw std::out_of_range("stored"); } catch (...) { ep = std::current_exception(); }
  try { std::rethrow_exception(ep); } catch (const std::out_of_range &e) { std::printf("rethrown: %s\n", e.what()); }
  return 0;
}
