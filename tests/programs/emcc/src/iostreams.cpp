// iostreams: cout formatting, stringstream parsing, fstream to a file in
// the preopened directory, and reading stdin line by line.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  std::cout << "hello from iostreams" << std::endl;
  std::cout << std::fixed << std::setprecision(3) << 3.14159265 << ' ' << std::scientific << 12345.678 << '\n';
  std::cout << std::defaultfloat << 0.1 + 0.2 << ' ' << std::setprecision(17) << 0.1 + 0.2 << '\n';
  std::cout << std::hex << 255 << ' ' << std::oct << 8 << ' ' << std::dec << std::setw(6) << std::setfill('*') << 42 << '\n';
  std::istringstream in("3 1 4 1 5 9 2 6 5 3 5");
  std::vector<int> v;
  for (int x; in >> x;) v.push_back(x);
  std::sort(v.begin(), v.end());
  std::ostringstream out;
  for (int x : v) out << x << ',';
  std::cout << "sorted: " << out.str() << '\n';
  if (argc > 1) {
    std::string path = std::string(argv[1]) + "/words.txt";
    {
      std::ofstream f(path);
      f << "alpha beta\ngamma\ndelta epsilon zeta\n";
    }
    std::ifstream f(path);
    std::map<std::string, int> lengths;
    for (std::string w; f >> w;) lengths[w] = (int)w.size();
    for (auto &kv : lengths) std::cout << kv.first << '=' << kv.second << ' ';
    std::cout << '\n';
    std::ifstream missing(std::string(argv[1]) + "/missing.txt");
    std::cout << "missing opens: " << std::boolalpha << missing.is_open() << '\n';
  }
  std::string line;
  int n = 0;
  size_t chars = 0;
  while (std::getline(std::cin, line)) { n++; chars += line.size(); std::cout << n << ": " << line << '\n'; }
  std::cout << "stdin: " << n << " lines, " << chars << " chars" << std::endl;
  std::cerr << "to stderr" << std::endl;
  return 0;
}
